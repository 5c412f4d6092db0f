// libFuzzer-compatible fuzz targets. Each target defines
// LLVMFuzzerTestOneInput and fuzz_seeds(). Built with GCC (the default),
// fuzz_driver.cpp supplies main(): it runs every seed and then deterministic
// mutations of them (bit flips, truncations, extensions, boundary values),
// so ctest exercises the parsers under ASan+UBSan on every run. With a
// compiler that supports -fsanitize=fuzzer and C++23 std::expected, the same
// files link against libFuzzer for coverage-guided fuzzing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
std::vector<std::vector<std::uint8_t>> fuzz_seeds();
