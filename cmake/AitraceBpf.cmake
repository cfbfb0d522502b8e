# BPF build pipeline: clang -target bpf -> bpftool gen skeleton -> header-only target.
# The skeleton embeds the object, so the aitrace binary needs no .o files at run time.

set(_aitrace_clang_names clang-21 clang-20 clang-19 clang-18 clang-17 clang-16 clang-15 clang-14 clang)
find_program(AITRACE_BPF_CLANG NAMES ${_aitrace_clang_names}
  DOC "clang used to compile BPF programs (newest installed wins)")
if(NOT AITRACE_BPF_CLANG)
  message(FATAL_ERROR "aitrace: no clang found for BPF; install it: apt-get install clang-16 (or clang >= 14)")
endif()
execute_process(COMMAND ${AITRACE_BPF_CLANG} --version OUTPUT_VARIABLE _clang_version_out)
string(REGEX MATCH "version ([0-9]+)" _m "${_clang_version_out}")
if(NOT CMAKE_MATCH_1 OR CMAKE_MATCH_1 LESS 14)
  message(FATAL_ERROR "aitrace: ${AITRACE_BPF_CLANG} is older than clang 14; apt-get install clang-16")
endif()
message(STATUS "aitrace: BPF compiler ${AITRACE_BPF_CLANG} (clang ${CMAKE_MATCH_1})")

# libbpf 1.4 for its BPF token API (container targets), bpftool 7.5 for skeletons that match it.
# Debian 12 ships 1.1 and 7.1; scripts/setup adds bookworm-backports and takes both from there.
set(_aitrace_bpf_install "run scripts/setup, or: apt-get install -t bookworm-backports libbpf-dev bpftool")
find_program(AITRACE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin /usr/local/sbin
  DOC "bpftool used to generate skeletons")
if(NOT AITRACE_BPFTOOL)
  message(FATAL_ERROR "aitrace: bpftool >= 7.5 not found; ${_aitrace_bpf_install}")
endif()
execute_process(COMMAND ${AITRACE_BPFTOOL} version OUTPUT_VARIABLE _bpftool_version_out ERROR_QUIET)
string(REGEX MATCH "bpftool v([0-9]+\\.[0-9]+)" _m "${_bpftool_version_out}")
if(NOT CMAKE_MATCH_1 OR CMAKE_MATCH_1 VERSION_LESS 7.5)
  message(FATAL_ERROR "aitrace: ${AITRACE_BPFTOOL} is bpftool '${CMAKE_MATCH_1}', need >= 7.5; ${_aitrace_bpf_install}")
endif()
message(STATUS "aitrace: bpftool ${CMAKE_MATCH_1} (${AITRACE_BPFTOOL})")

find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF QUIET libbpf)
if(NOT LIBBPF_FOUND)
  message(FATAL_ERROR "aitrace: libbpf >= 1.4 not found; ${_aitrace_bpf_install}")
elseif(LIBBPF_VERSION VERSION_LESS 1.4)
  message(FATAL_ERROR "aitrace: libbpf ${LIBBPF_VERSION} is too old, need >= 1.4; ${_aitrace_bpf_install}")
endif()
message(STATUS "aitrace: libbpf ${LIBBPF_VERSION}")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(AITRACE_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(AITRACE_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "aitrace: unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
endif()
if(NOT EXISTS ${PROJECT_SOURCE_DIR}/vmlinux/${AITRACE_BPF_ARCH}/vmlinux.h)
  message(FATAL_ERROR "aitrace: vmlinux/${AITRACE_BPF_ARCH}/vmlinux.h missing; run scripts/update-vmlinux")
endif()

# llvm-strip of the same LLVM: the skeletons embed objects without DWARF (libbpf reads only .BTF
# and .BTF.ext). sched.bpf.o is 1.4 MB with it and libbpf's open of the embedded copy faulted most
# of it into aitrace's memory (docs/benchmarks.md, start-up and memory).
string(REGEX REPLACE "^.*clang(-[0-9]+)?$" "llvm-strip\\1" _aitrace_strip_name "${AITRACE_BPF_CLANG}")
find_program(AITRACE_BPF_STRIP NAMES ${_aitrace_strip_name} llvm-strip DOC "llvm-strip for BPF objects (scripts/setup: llvm-16)")
if(NOT AITRACE_BPF_STRIP)
  message(FATAL_ERROR "aitrace: llvm-strip not found; apt-get install llvm-16")
endif()

# Extra clang flags for every BPF object: bench/sched_parts_overhead.sh builds variants with parts of
# the sched programs compiled out (-DAITRACE_ABLATE_*), to measure what each part costs.
set(AITRACE_BPF_EXTRA_FLAGS "" CACHE STRING "Extra clang flags for the BPF objects (benchmarks only)")
separate_arguments(_aitrace_bpf_extra UNIX_COMMAND "${AITRACE_BPF_EXTRA_FLAGS}")

set(AITRACE_BPF_GEN_DIR ${PROJECT_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${AITRACE_BPF_GEN_DIR})
# Every shared header is an explicit dependency so a changed struct rebuilds every object.
file(GLOB AITRACE_BPF_SHARED_HEADERS CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/bpf/common/*.bpf.h ${PROJECT_SOURCE_DIR}/bpf/*.bpf.h
  ${PROJECT_SOURCE_DIR}/include/aitrace/*.h)

# aitrace_bpf_object(<name> <source>) -> INTERFACE target aitrace_bpf_<name> providing <name>.skel.h
function(aitrace_bpf_object name source)
  set(obj ${AITRACE_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${AITRACE_BPF_GEN_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${AITRACE_BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${AITRACE_BPF_ARCH} -DAITRACE_BPF
            -Wall -Wno-unused-function -Wno-compare-distinct-pointer-types
            -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/bpf
            -I${PROJECT_SOURCE_DIR}/vmlinux/${AITRACE_BPF_ARCH} ${LIBBPF_CFLAGS} ${_aitrace_bpf_extra}
            -c ${PROJECT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${PROJECT_SOURCE_DIR}/${source} ${AITRACE_BPF_SHARED_HEADERS}
            ${PROJECT_SOURCE_DIR}/vmlinux/${AITRACE_BPF_ARCH}/vmlinux.h
    COMMENT "BPF ${name}"
    VERBATIM)
  # ${obj} keeps its DWARF for llvm-objdump -S; the skeleton embeds the stripped copy.
  set(stripped ${AITRACE_BPF_GEN_DIR}/${name}.stripped.bpf.o)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${AITRACE_BPF_STRIP} -g ${obj} -o ${stripped}
    COMMAND ${AITRACE_BPFTOOL} gen skeleton ${stripped} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(aitrace_bpf_${name}_gen DEPENDS ${skel})
  add_library(aitrace_bpf_${name} INTERFACE)
  add_dependencies(aitrace_bpf_${name} aitrace_bpf_${name}_gen)
  target_include_directories(aitrace_bpf_${name} INTERFACE ${AITRACE_BPF_GEN_DIR})
endfunction()
