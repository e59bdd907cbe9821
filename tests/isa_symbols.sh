#!/bin/sh
# The AVX2 and AVX-512 builds of the kernels must not define any shared (weak) symbol outside their own
# namespaces: the linker keeps one copy of an inline function for the whole program, and an AVX2 copy
# would crash code on a CPU without AVX2. Arguments: the library's object files.
status=0
for object in "$@"; do
  case "$object" in *_avx2.cc.o | *_avx512.cc.o) ;; *) continue ;; esac
  shared=$(nm -C --defined-only "$object" | awk '$2 ~ /^[WVu]$/' |
           grep -v -e 'reinit_eigen_avx2' -e 'reinit::avx2::' -e 'reinit::avx512::' -e 'DW.ref.__gxx_personality_v0')
  if [ -n "$shared" ]; then
    echo "$object defines shared symbols outside its namespace:"
    echo "$shared"
    status=1
  fi
  checked=1
done
[ -n "$checked" ] || { echo "no *_avx2.cc.o / *_avx512.cc.o object given"; exit 1; }
exit $status
