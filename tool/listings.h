// --list passes|ops|activations|pass-throughs|settings: the tables the tool decides by, printed from
// the code as Markdown tables, so the documentation that shows them (docs/*.md, checked by the test
// suite) cannot drift from what the tool does.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace reinit {

// The names --list takes.
const std::vector<std::string>& ListNames();
// Prints the listing `what` (one of ListNames()) to `out`; returns the exit code.
int RunList(const std::string& what, std::ostream& out);

}  // namespace reinit
