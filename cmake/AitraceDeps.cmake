# Userspace dependencies, all from Debian packages; each failure names the package to install.
macro(aitrace_require_package pkg debian)
  find_package(${pkg} ${ARGN} QUIET)
  if(NOT ${pkg}_FOUND)
    message(FATAL_ERROR "aitrace: ${pkg} not found; install it: apt-get install ${debian}")
  endif()
endmacro()

aitrace_require_package(CLI11 libcli11-dev)
aitrace_require_package(fmt libfmt-dev)
aitrace_require_package(nlohmann_json nlohmann-json3-dev)
aitrace_require_package(Threads libc6-dev)

# libbpf, libelf and zlib come through pkg-config; a static build takes their .a files.
pkg_check_modules(LIBELF libelf)
if(NOT LIBELF_FOUND)
  message(FATAL_ERROR "aitrace: libelf not found; install it: apt-get install libelf-dev")
endif()
pkg_check_modules(ZLIB zlib)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "aitrace: zlib not found; install it: apt-get install zlib1g-dev")
endif()

add_library(aitrace_libbpf INTERFACE)
target_include_directories(aitrace_libbpf INTERFACE ${LIBBPF_INCLUDE_DIRS})
if(AITRACE_STATIC)
  # Full paths: a bare "libbpf.a" makes CMake emit -Wl,-Bstatic ... -Wl,-Bdynamic, which then
  # pulls libstdc++.so into a -static link and fails.
  foreach(lib bpf elf z)
    find_library(AITRACE_STATIC_LIB_${lib} NAMES lib${lib}.a)
    if(NOT AITRACE_STATIC_LIB_${lib})
      message(FATAL_ERROR "aitrace: lib${lib}.a not found for AITRACE_STATIC")
    endif()
    target_link_libraries(aitrace_libbpf INTERFACE ${AITRACE_STATIC_LIB_${lib}})
  endforeach()
  target_link_options(aitrace_libbpf INTERFACE -static)
else()
  target_link_libraries(aitrace_libbpf INTERFACE ${LIBBPF_LINK_LIBRARIES} ${LIBELF_LINK_LIBRARIES}
                        ${ZLIB_LINK_LIBRARIES})
endif()
