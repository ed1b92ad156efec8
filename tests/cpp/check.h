// Minimal test harness shared by the C++ tests: CHECK / CHECK_OK, a per-test scratch directory,
// and a summary line. No dependencies beyond the standard library and POSIX.
#ifndef LSM_VEC_TESTS_CHECK_H
#define LSM_VEC_TESTS_CHECK_H

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace check {

inline int& checks() { static int n = 0; return n; }
inline int& failures() { static int n = 0; return n; }

inline void record(bool ok, const char* file, int line, const std::string& what) {
  ++checks();
  if (!ok) {
    ++failures();
    std::cerr << file << ":" << line << ": check failed: " << what << std::endl;
  }
}

// Makes a fresh directory under `base` and changes into it, so that the specification's
// examples can use their relative paths ("./db") unchanged.
inline std::string enter_fresh_dir(const std::string& base, const std::string& name) {
  std::string dir = base + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0 || chdir(dir.c_str()) != 0) {
    std::cerr << "cannot create and enter " << dir << std::endl;
    std::exit(2);
  }
  return dir;
}

inline int summary(const char* name) {
  std::cout << name << ": " << checks() << " checks, " << failures() << " failed" << std::endl;
  return failures() == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK(cond) ::check::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECK_OK(expr)                                                                    \
  do {                                                                                    \
    ::lsm_vec::Status s_ = (expr);                                                        \
    ::check::record(s_.ok(), __FILE__, __LINE__, std::string(#expr) + " -> " + s_.ToString()); \
  } while (0)
#define CHECK_STATUS(expr, pred)                                                          \
  do {                                                                                    \
    ::lsm_vec::Status s_ = (expr);                                                        \
    ::check::record(s_.pred(), __FILE__, __LINE__,                                        \
                    std::string(#expr) + " should be " #pred ", got " + s_.ToString());   \
  } while (0)

#endif
