// Deterministic mutation driver for the fuzz targets (see fuzz_driver.h).
// usage: <target> [iterations per seed, default 2000]
//        <target> --write-corpus DIR   writes the seeds as files seed-NN (for tests/fuzz/corpus/)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "tests/fuzz/fuzz_driver.h"

namespace {

std::vector<std::uint8_t> mutate(std::vector<std::uint8_t> input, std::mt19937_64& rng) {
    static const std::uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x0f, 0x10, 0x1f, 0x20, 0x30,
                                                0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff};
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
        switch (rng() % 6) {
            case 0:  // flip a bit
                if (!input.empty()) input[rng() % input.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                break;
            case 1:  // a boundary value in a random byte (counts, lengths, formats)
                if (!input.empty()) input[rng() % input.size()] = kInteresting[rng() % sizeof kInteresting];
                break;
            case 2:  // truncate
                if (!input.empty()) input.resize(rng() % input.size());
                break;
            case 3:  // extend with junk
                for (std::size_t n = rng() % 64; n > 0; --n) input.push_back(static_cast<std::uint8_t>(rng()));
                break;
            case 4:  // a random byte anywhere
                if (!input.empty()) input[rng() % input.size()] = static_cast<std::uint8_t>(rng());
                break;
            default:  // a big-endian 32-bit boundary value at a 4-aligned offset
                if (input.size() >= 4) {
                    const std::size_t at = (rng() % (input.size() / 4)) * 4;
                    const std::uint32_t v = (rng() & 1) ? 0xffffffffu : static_cast<std::uint32_t>(1u << (rng() % 32));
                    for (int i = 0; i < 4; ++i) input[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
                }
                break;
        }
    }
    return input;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 2 && std::strcmp(argv[1], "--write-corpus") == 0) {
        const auto seeds = fuzz_seeds();
        for (std::size_t k = 0; k < seeds.size(); ++k) {
            char name[32];
            std::snprintf(name, sizeof name, "/seed-%02zu", k);
            std::ofstream(std::string(argv[2]) + name, std::ios::binary)
                .write(reinterpret_cast<const char*>(seeds[k].data()), static_cast<std::streamsize>(seeds[k].size()));
        }
        std::printf("%zu seeds written to %s\n", seeds.size(), argv[2]);
        return 0;
    }
    const long iterations = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 2000;
    const auto seeds = fuzz_seeds();
    std::mt19937_64 rng(20261121);
    long runs = 0;
    for (const auto& seed : seeds) {
        LLVMFuzzerTestOneInput(seed.data(), seed.size());
        ++runs;
        for (long i = 0; i < iterations; ++i) {
            const auto input = mutate(seed, rng);
            LLVMFuzzerTestOneInput(input.data(), input.size());
            ++runs;
        }
    }
    std::printf("%ld inputs from %zu seeds: no crash, no sanitizer report\n", runs, seeds.size());
    return 0;
}
