#!/bin/sh
# The library's layers (passes/*/CMakeLists.txt): each folder may include only its own headers and those
# of the layers below it — graph <- io <- policy, gen <- report <- passes — so the dependency direction
# is kept by a check, not by habit. Argument: the source tree. Prints each include that breaks it.
cd "$1" || exit 2
status=0
check() {  # folder, then the folders it may include
  folder=$1
  shift
  allowed="$*"
  for file in passes/$folder/*.cc passes/$folder/*.h passes/$folder/*.inc; do
    [ -e "$file" ] || continue
    # A header of passes/ itself (the passes, the pipeline) is the top layer: no folder may use it.
    if grep -q '#include "passes/[a-z_]*\.h"' "$file"; then
      echo "$file includes a header of passes/ itself (the top layer)"
      echo bad >> "$marker"
    fi
    grep -o '#include "passes/[a-z_]*/' "$file" | sed 's|#include "passes/||; s|/||' | sort -u |
      while read -r used; do
        case " $folder $allowed " in
          *" $used "*) ;;
          *) echo "$file includes passes/$used/, which $folder may not use"; echo bad >> "$marker" ;;
        esac
      done
  done
}
marker=$(mktemp)
check graph
check io graph
check policy graph
check gen graph io
check report graph policy
[ -s "$marker" ] && status=1
rm -f "$marker"
exit $status
