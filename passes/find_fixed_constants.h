#pragma once
#include "passes/pipeline.h"

namespace reinit {

class FindFixedConstantsPass : public Pass {
 public:
  Status Run(PassContext& ctx) override;
};

}  // namespace reinit
