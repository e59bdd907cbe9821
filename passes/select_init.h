#pragma once
#include "passes/pipeline.h"

namespace reinit {

class SelectInitPass : public Pass {
 public:
  Status Run(PassContext& ctx) override;
};

}  // namespace reinit
