#pragma once
#include "passes/pipeline.h"

namespace reinit {

class InferFansPass : public Pass {
 public:
  Status Run(PassContext& ctx) override;
};

}  // namespace reinit
