# Interface targets that carry the project's warnings and sanitizer flags.
# They are linked PRIVATE into our own targets only, never into third-party code.

option(TIANYE_WERROR "Treat compiler warnings as errors" OFF)
option(TIANYE_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)
set(TIANYE_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")

add_library(tianye_options INTERFACE)
target_compile_features(tianye_options INTERFACE cxx_std_20)
target_compile_options(tianye_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wcast-align -Wnull-dereference -Wimplicit-fallthrough
  # Options structs are meant to be filled with designated initializers that
  # leave the documented defaults in place; GCC 12 warns about every such use.
  -Wno-missing-field-initializers
  $<$<BOOL:${TIANYE_WERROR}>:-Werror>)

if(TIANYE_SANITIZE)
  target_compile_options(tianye_options INTERFACE
    -fsanitize=${TIANYE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(tianye_options INTERFACE -fsanitize=${TIANYE_SANITIZE})
endif()

if(TIANYE_FUZZ)
  # Coverage instrumentation for libFuzzer in all of our own code.
  target_compile_options(tianye_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
