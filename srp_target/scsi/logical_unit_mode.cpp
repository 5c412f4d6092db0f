// MODE SENSE (6)/(10) and MODE SELECT (6)/(10) (SPC-4 6.11-6.14, SBC-3 6.5).
// Pages: read-write error recovery (01h), caching (08h), control (0Ah),
// informational exceptions control (1Ch). Only the caching page's WCE bit
// is changeable; it decides whether writes are flushed before GOOD.
#include <algorithm>

#include "common/wire/big_endian.h"
#include "srp_target/scsi/logical_unit.h"
#include "srp_target/scsi/sense_helpers.h"

namespace srp::target {

using scsi::Asc;
using scsi::FieldPointer;
using scsi::SenseBuilder;
using scsi::SenseKey;
using wire::load_be;
using wire::store_be;
namespace op = scsi::op;

namespace {


constexpr std::uint8_t kPageControlCurrent = 0, kPageControlChangeable = 1, kPageControlDefault = 2,
                       kPageControlSaved = 3;
constexpr std::uint8_t kAllPages = 0x3f;
constexpr std::uint8_t kPages[] = {0x01, 0x08, 0x0A, 0x1C};
constexpr std::uint8_t kWceBit = 0x04;

}  // namespace

std::vector<std::uint8_t> LogicalUnit::mode_page(std::uint8_t page, std::uint8_t control) const {
    const bool changeable = control == kPageControlChangeable;
    std::vector<std::uint8_t> p;
    switch (page) {
        case 0x01:  // read-write error recovery: AWRE, ARRE are fixed on
            p.assign(12, 0);
            if (!changeable) p[2] = 0xC0;
            break;
        case 0x08:  // caching
            p.assign(20, 0);
            if (changeable) p[2] = kWceBit;
            else if (control == kPageControlDefault || write_cache_enabled()) p[2] = kWceBit;
            break;
        case 0x0A:  // control: QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering)
            p.assign(12, 0);
            if (!changeable) {
                p[3] = 0x10;
                store_be<std::uint16_t>(p, 8, 0xffff);  // busy timeout period: unlimited
            }
            break;
        case 0x1C:  // informational exceptions control: all off
            p.assign(12, 0);
            break;
        default: return {};
    }
    p[0] = page;
    p[1] = static_cast<std::uint8_t>(p.size() - 2);
    return p;
}

void LogicalUnit::mode_sense(ScsiTask& task, scsi::Cdb cdb) {
    const bool ten = cdb[0] == op::kModeSense10;
    const bool dbd = cdb[1] & 0x08;
    const bool llbaa = ten && (cdb[1] & 0x10);
    const std::uint8_t control = cdb[2] >> 6;
    const std::uint8_t page = cdb[2] & 0x3f;
    const std::uint8_t subpage = cdb[3];
    if (control == kPageControlSaved)
        return task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::saving_parameters_not_supported,
                                                FieldPointer{true, 2, 7}, {}});
    if (subpage != 0 && !(page == kAllPages && subpage == 0xff))
        return task.complete_check(illegal(Asc::invalid_field_in_cdb, 3));

    std::vector<std::uint8_t> pages;
    if (page == kAllPages) {
        for (std::uint8_t code : kPages) {
            auto p = mode_page(code, control);
            pages.insert(pages.end(), p.begin(), p.end());
        }
    } else {
        pages = mode_page(page, control);
        if (pages.empty()) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 2, 5));
    }

    const std::size_t header = ten ? 8 : 4;
    const std::size_t descriptor = dbd ? 0 : (llbaa ? 16 : 8);
    std::vector<std::uint8_t> d(header + descriptor + pages.size(), 0);
    // DEVICE-SPECIFIC PARAMETER (SBC-3 6.5.1): WP for read-only LUNs, DPOFUA.
    const std::uint8_t device_specific = static_cast<std::uint8_t>((backstore_->read_only() ? 0x80 : 0) | 0x10);
    if (ten) {
        store_be<std::uint16_t>(d, 0, static_cast<std::uint16_t>(d.size() - 2));
        d[3] = device_specific;
        if (llbaa) d[4] = 0x01;  // LONGLBA
        store_be<std::uint16_t>(d, 6, static_cast<std::uint16_t>(descriptor));
    } else {
        d[0] = static_cast<std::uint8_t>(std::min<std::size_t>(d.size() - 1, 0xff));
        d[2] = device_specific;
        d[3] = static_cast<std::uint8_t>(descriptor);
    }
    if (descriptor == 8) {
        const std::uint64_t blocks = block_count();
        store_be<std::uint32_t>(d, header, blocks > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(blocks));
        wire::store_be24(d, header + 5, config_.block_size);
    } else if (descriptor == 16) {
        store_be<std::uint64_t>(d, header, block_count());
        store_be<std::uint32_t>(d, header + 12, config_.block_size);
    }
    std::copy(pages.begin(), pages.end(), d.begin() + static_cast<std::ptrdiff_t>(header + descriptor));
    set_data_in(task, std::move(d), scsi::allocation_length(cdb));
}

void LogicalUnit::mode_select(ScsiTask& task, scsi::Cdb cdb) {
    const bool ten = cdb[0] == op::kModeSelect10;
    if (!(cdb[1] & 0x10)) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 4));  // PF must be 1
    if (cdb[1] & 0x01) return task.complete_check(illegal(Asc::invalid_field_in_cdb, 1, 0));     // SP: no saving
    const std::uint32_t length = ten ? load_be<std::uint16_t>(cdb, 7) : cdb[4];
    if (length == 0) return;
    task.cdb_bytes_[0] = cdb[0];
    task.scratch_.assign(length, 0);
    expect_data_out(task, task.scratch_, false, ScsiTask::Continuation::mode_select);
}

void LogicalUnit::finish_mode_select(ScsiTask& task) {
    const bool ten = task.cdb_bytes_[0] == op::kModeSelect10;
    const auto& p = task.scratch_;
    const std::size_t header = ten ? 8 : 4;
    if (p.size() < header)
        return task.complete_check(SenseBuilder{SenseKey::illegal_request, Asc::parameter_list_length_error, {}, {}});
    const std::size_t descriptors = ten ? load_be<std::uint16_t>(p, 6) : p[3];
    if (header + descriptors > p.size()) return task.complete_check(bad_parameter(ten ? 6 : 3));
    // A block descriptor may only restate the current block length.
    if (descriptors == 8 && wire::load_be24(p, header + 5) != config_.block_size)
        return task.complete_check(bad_parameter(static_cast<std::uint16_t>(header + 5)));
    std::optional<bool> new_wce;
    std::size_t at = header + descriptors;
    while (at < p.size()) {
        if (at + 2 > p.size()) return task.complete_check(bad_parameter(static_cast<std::uint16_t>(at)));
        const std::uint8_t code = p[at] & 0x3f;
        if (p[at] & 0x40) return task.complete_check(bad_parameter(static_cast<std::uint16_t>(at), 6));  // SPF
        const std::size_t len = std::size_t{p[at + 1]} + 2;
        const auto current = mode_page(code, kPageControlCurrent);
        const auto changeable = mode_page(code, kPageControlChangeable);
        if (current.empty()) return task.complete_check(bad_parameter(static_cast<std::uint16_t>(at), 5));
        if (len != current.size() || at + len > p.size())
            return task.complete_check(bad_parameter(static_cast<std::uint16_t>(at + 1)));
        // Every bit that is not changeable must keep its current value (SPC-4 6.13).
        for (std::size_t i = 2; i < len; ++i)
            if ((p[at + i] ^ current[i]) & ~changeable[i])
                return task.complete_check(bad_parameter(static_cast<std::uint16_t>(at + i)));
        if (code == 0x08) new_wce = (p[at + 2] & kWceBit) != 0;
        at += len;
    }
    if (!new_wce || *new_wce == write_cache_enabled()) return task.complete_good();
    task.cursor_ = *new_wce ? 1 : 0;  // the WCE to apply
    // Turning the cache off must first make everything already written durable.
    if (!*new_wce) return issue_flush(task, ScsiTask::Continuation::mode_select);
    apply_mode_select(task);
}

void LogicalUnit::apply_mode_select(ScsiTask& task) {
    std::lock_guard lock(state_mutex_);
    write_cache_enabled_.store(task.cursor_ != 0, std::memory_order_relaxed);
    for (auto& [nexus, queue] : unit_attentions_)
        if (nexus != task.nexus_) establish_unit_attention(nexus, Asc::mode_parameters_changed);
    task.complete_good();
}

}  // namespace srp::target
