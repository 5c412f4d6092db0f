// Fuzz target: the SCSI engine. Input: CDB (first 16 bytes), then data-out.
// The low bit of the last byte picks the LUN: 0 on anonymous memory (inline
// medium steps), 1 on a file through the asynchronous medium interface
// (every phase answered synchronously, as a transport would).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "srp_target/backstore/aligned_buffer.h"
#include "srp_target/scsi/scsi_target.h"
#include "tests/fuzz/fuzz_driver.h"

using namespace srp;

namespace {
struct Fixture {
    std::string file = (std::filesystem::temp_directory_path() / ("srp-fuzz-engine-" + std::to_string(::getpid()))).string();
    target::ScsiTarget scsi;
    Fixture() {
        auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{"", 1u << 20, false});
        scsi.add_lun(0, std::make_shared<target::LogicalUnit>(std::move(store), target::LogicalUnitConfig{}));
        std::filesystem::remove(file);
        auto io = std::make_unique<target::Backstore>(target::BackstoreConfig{file, 1u << 20, false});
        scsi.add_lun(1, std::make_shared<target::LogicalUnit>(std::move(io), target::LogicalUnitConfig{}));
        scsi.attach_nexus(1, target::NexusIdentity{{0x04, 0x00, 0x01}, {0x01}});
    }
    ~Fixture() { std::filesystem::remove(file); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    if (size < 1) return 0;
    const std::size_t cdb_len = std::min<std::size_t>(16, size);
    const std::span<const std::uint8_t> cdb(data, cdb_len);
    const std::span<const std::uint8_t> out(data + cdb_len, size - cdb_len);
    const std::uint16_t lun = data[size - 1] & 1;
    auto task = f.scsi.submit(1, lun, cdb, out.size());
    target::AlignedBuffer buffer;
    for (int step = 0; step < 1000 && task.phase() != target::ScsiTask::Phase::complete; ++step) {
        switch (task.phase()) {
            case target::ScsiTask::Phase::awaiting_buffer:
                buffer = target::AlignedBuffer(task.buffer_bytes());
                f.scsi.provide_buffer(lun, task, buffer.bytes());
                break;
            case target::ScsiTask::Phase::awaiting_data_out: {
                auto dest = task.data_out_buffer();
                std::memcpy(dest.data(), out.data(), std::min(dest.size(), out.size()));
                f.scsi.complete_data_out(lun, task);
                break;
            }
            case target::ScsiTask::Phase::awaiting_medium:
                f.scsi.complete_medium(lun, task, task.medium_op().store->execute(task.medium_op()));
                break;
            case target::ScsiTask::Phase::blocked: __builtin_trap();  // nothing else holds a range
            case target::ScsiTask::Phase::complete: break;
        }
    }
    if (task.phase() != target::ScsiTask::Phase::complete) __builtin_trap();
    volatile std::uint8_t sink = 0;
    for (auto b : task.data_in().first(std::min<std::size_t>(task.data_in().size(), 4096))) sink = sink + b;
    for (auto b : task.sense()) sink = sink + b;
    return 0;
}

std::vector<std::vector<std::uint8_t>> fuzz_seeds() {
    std::vector<std::vector<std::uint8_t>> seeds = {
        {0x12, 0x01, 0x83, 0x00, 0xff, 0x00},                                      // INQUIRY VPD 0x83
        {0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0},                                          // READ(10)
        {0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0},                        // WRITE(16)
        {0x1a, 0x00, 0x3f, 0x00, 0xff, 0x00},                                      // MODE SENSE(6) all pages
        {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0},                    // READ CAPACITY(16)
        {0xa3, 0x0c, 0x02, 0x9e, 0x00, 0x10, 0, 0, 0, 0x40, 0, 0},                  // RSOC
    };
    std::vector<std::uint8_t> unmap = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0};
    const std::uint8_t list[24] = {0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 4};
    unmap.insert(unmap.end(), list, list + sizeof list);
    seeds.push_back(unmap);
    std::vector<std::uint8_t> select = {0x15, 0x10, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0x08, 0x12, 0x04};
    select.resize(16 + 24, 0);
    seeds.push_back(select);
    std::vector<std::uint8_t> pr = {0x5f, 0x00, 0x00, 0, 0, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0};
    pr.resize(16 + 24, 0);
    pr[16 + 15] = 0xaa;
    seeds.push_back(pr);
    return seeds;
}
