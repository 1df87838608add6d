# Provides the target `tianye::sqlcipher`: SQLCipher >= 4 with the OpenSSL crypto
# provider. Debian's libsqlcipher-dev is SQLCipher 3.4 and is never used.
#
#  1. A system SQLCipher found by pkg-config is used when a test program built
#     against it reports `PRAGMA cipher_version` >= 4.
#  2. Otherwise the pinned official amalgamation is built as a static library.
#     TIANYE_SQLCIPHER_SOURCE names its folder; when unset, scripts/fetch-sqlcipher
#     fetches and verifies it into the user's cache (never into the source tree).

option(TIANYE_SYSTEM_SQLCIPHER "Use a system SQLCipher >= 4 when pkg-config finds one" ON)
set(TIANYE_SQLCIPHER_SOURCE "" CACHE PATH "Folder holding the SQLCipher amalgamation sqlite3.c")

find_package(OpenSSL REQUIRED COMPONENTS Crypto)

set(_tianye_sqlcipher_done FALSE)
if(TIANYE_SYSTEM_SQLCIPHER)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(SYSTEM_SQLCIPHER QUIET IMPORTED_TARGET sqlcipher)
  endif()
  if(SYSTEM_SQLCIPHER_FOUND)
    set(_probe_dir ${CMAKE_BINARY_DIR}/sqlcipher-probe)
    file(WRITE ${_probe_dir}/probe.c [=[
#define SQLITE_HAS_CODEC 1
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
static int cb(void* out, int n, char** v, char** c) { (void)n; (void)c;
  if (v[0]) { *(int*)out = atoi(v[0]); } return 0; }
int main(void) { sqlite3* db; int major = 0;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  sqlite3_exec(db, "PRAGMA cipher_version", cb, &major, NULL);
  sqlite3_close(db); printf("%d", major); return major >= 4 ? 0 : 1; }
]=])
    try_run(_run_result _compile_result ${_probe_dir} ${_probe_dir}/probe.c
      CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${SYSTEM_SQLCIPHER_INCLUDE_DIRS}"
      LINK_LIBRARIES PkgConfig::SYSTEM_SQLCIPHER
      RUN_OUTPUT_VARIABLE _major)
    if(_compile_result AND _run_result EQUAL 0)
      message(STATUS "SQLCipher: system library, major version ${_major}")
      add_library(tianye_sqlcipher INTERFACE)
      target_link_libraries(tianye_sqlcipher INTERFACE PkgConfig::SYSTEM_SQLCIPHER)
      target_compile_definitions(tianye_sqlcipher INTERFACE SQLITE_HAS_CODEC=1)
      set(_tianye_sqlcipher_done TRUE)
    else()
      message(STATUS "SQLCipher: system library is older than 4 (reported '${_major}'); building the pinned amalgamation")
    endif()
  endif()
endif()

if(NOT _tianye_sqlcipher_done)
  if(NOT TIANYE_SQLCIPHER_SOURCE)
    execute_process(
      COMMAND ${PROJECT_SOURCE_DIR}/scripts/fetch-sqlcipher
      OUTPUT_VARIABLE _fetched OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _fetch_rc)
    if(NOT _fetch_rc EQUAL 0)
      message(FATAL_ERROR "Could not fetch the SQLCipher amalgamation (scripts/fetch-sqlcipher failed). "
                          "Run scripts/setup, or pass -DTIANYE_SQLCIPHER_SOURCE=/path/to/amalgamation.")
    endif()
    set(TIANYE_SQLCIPHER_SOURCE ${_fetched} CACHE PATH "Folder holding the SQLCipher amalgamation sqlite3.c" FORCE)
  endif()
  if(NOT EXISTS ${TIANYE_SQLCIPHER_SOURCE}/sqlite3.c)
    message(FATAL_ERROR "TIANYE_SQLCIPHER_SOURCE=${TIANYE_SQLCIPHER_SOURCE} holds no sqlite3.c")
  endif()
  message(STATUS "SQLCipher: building the amalgamation in ${TIANYE_SQLCIPHER_SOURCE}")

  add_library(tianye_sqlcipher STATIC ${TIANYE_SQLCIPHER_SOURCE}/sqlite3.c)
  set(_defs
    SQLITE_HAS_CODEC SQLCIPHER_CRYPTO_OPENSSL SQLITE_THREADSAFE=1 SQLITE_TEMP_STORE=2
    SQLITE_SECURE_DELETE SQLITE_ENABLE_FTS5 SQLITE_DEFAULT_FOREIGN_KEYS=1
    SQLITE_EXTRA_INIT=sqlcipher_extra_init SQLITE_EXTRA_SHUTDOWN=sqlcipher_extra_shutdown)
  target_compile_definitions(tianye_sqlcipher PRIVATE _GNU_SOURCE ${_defs})
  # Consumers must see the same API switches when they include sqlite3.h.
  target_compile_definitions(tianye_sqlcipher INTERFACE SQLITE_HAS_CODEC SQLITE_TEMP_STORE=2)
  # The amalgamation is third-party C: always optimised, never instrumented, no project warnings.
  target_compile_options(tianye_sqlcipher PRIVATE -include stdint.h -O2 -w)
  set_target_properties(tianye_sqlcipher PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(tianye_sqlcipher SYSTEM INTERFACE ${TIANYE_SQLCIPHER_SOURCE})
  find_package(Threads REQUIRED)
  target_link_libraries(tianye_sqlcipher PUBLIC OpenSSL::Crypto Threads::Threads ${CMAKE_DL_LIBS} m)
endif()

add_library(tianye::sqlcipher ALIAS tianye_sqlcipher)
