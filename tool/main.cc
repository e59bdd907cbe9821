// onnx-reinit: a thin driver. Parses argv into Options and runs the command.
#include <iostream>

#include "tool/options.h"

int main(int argc, char** argv) {
  reinit::Options options;
  const int stop = reinit::ParseCommandLine(argc, argv, &options, std::cout, std::cerr);
  if (stop >= 0) return stop;
  return reinit::RunCommand(options, std::cout, std::cerr);
}
