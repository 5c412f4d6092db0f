// A logical unit over a real backstore file in a temporary directory, and a
// run() helper that plays the transport: it provides buffers, supplies
// data-out, runs the engine's medium steps (a small synchronous executor
// with optional error injection), and collects data-in, status and sense.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/scsi/sense.h"
#include "common/wire/big_endian.h"
#include "srp_target/scsi/scsi_target.h"
#include "tests/unit/hex.h"
#include "tests/unit/temp_dir.h"

namespace srp::test {

struct EngineResult {
    scsi::Status status = scsi::Status::good;
    std::vector<std::uint8_t> sense;
    std::vector<std::uint8_t> data;
    bool zero_copy = false;
    std::uint64_t data_out_unused = 0;

    std::uint8_t sense_key() const { return sense.size() > 2 ? sense[2] & 0x0f : 0; }
    std::uint16_t asc() const { return sense.size() > 13 ? static_cast<std::uint16_t>(sense[12] << 8 | sense[13]) : 0; }
};

// Which backstore kind the fixture's LU gets: the file mapped (memory kind,
// inline medium steps), the file through the medium interface (io kind,
// O_DIRECT when the filesystem allows), or io kind with buffered I/O.
// from_environment: io when SRP_TEST_MEDIUM=io (ctest runs every [engine]
// test both ways), mapped otherwise.
enum class Medium { from_environment, mapped, io, buffered };

class Engine {
public:
    static constexpr target::NexusId kNexus = 1;
    static constexpr target::NexusId kOtherNexus = 2;

    // aptpl_file: where the LU keeps persistent reservations (LogicalUnitConfig::aptpl_file).
    explicit Engine(std::uint32_t block_size = 512, std::uint64_t blocks = 2048, bool read_only = false,
                    Medium kind = Medium::from_environment, std::filesystem::path aptpl_file = {});

    // Runs a command on LUN 0 (or `lun`). expected_out defaults to data_out.size().
    EngineResult run(const std::vector<std::uint8_t>& cdb, const std::vector<std::uint8_t>& data_out = {},
                     target::NexusId nexus = kNexus, std::optional<std::uint64_t> expected_out = {},
                     std::optional<std::uint16_t> lun = 0);
    std::span<std::uint8_t> medium() const { return unit->backstore().bytes(); }
    // The file's bytes read through a separate descriptor (O_DIRECT when
    // direct: what is on the medium, not in our page cache).
    std::vector<std::uint8_t> file_bytes(std::uint64_t offset, std::size_t length, bool direct = false) const;
    // Changes one byte of the medium behind the engine's back (either kind).
    void flip_byte(std::uint64_t offset);
    bool io() const { return !unit->backstore().is_memory(); }

    // The test executor: every medium step run() performed, and an optional
    // injector that answers a step instead of the backstore.
    std::vector<target::MediumOp> steps;
    std::function<std::optional<target::MediumResult>(const target::MediumOp&)> inject;

    TempDir dir;
    std::string path;
    std::shared_ptr<target::LogicalUnit> unit;
    target::ScsiTarget target;
};

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed);

// The lasting name tests give nexus n: an SRP TransportID whose initiator
// port identifier ends in n, through target port 0.
target::NexusIdentity nexus_identity(target::NexusId n);

// Checks CHECK CONDITION with the sense key and ASC/ASCQ.
// The result expression is evaluated once: it usually runs a command.
#define CHECK_SENSE(result, key_, asc_)                                                  \
    do {                                                                                 \
        const srp::test::EngineResult& checked_ = (result);                              \
        CHECK(checked_.status == srp::scsi::Status::check_condition);                    \
        CHECK(checked_.sense_key() == static_cast<int>(srp::scsi::SenseKey::key_));      \
        CHECK(checked_.asc() == static_cast<std::uint16_t>(srp::scsi::Asc::asc_));       \
    } while (0)

}  // namespace srp::test
