// A target the test drives by hand over the loopback fabric: it accepts
// logins with the credits it is told, hands the test every IU the initiator
// sent, and answers (or stays silent) when the test says so. For the
// initiator's bad-day paths: lost responses, late responses, unanswered task
// management, late RDMA. Thread: one test thread drives both sides.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/fabric/loopback.h"
#include "common/wire/iu_parse.h"
#include "srp_initiator/connector.h"

namespace srp::test {

class ScriptedTarget {
public:
    struct Iu {
        wire::Opcode opcode;
        std::uint64_t tag = 0;  // as the initiator wrote it (native byte order)
        std::vector<std::uint8_t> bytes;
        std::size_t channel = 0;  // index of the login that carried it
    };

    explicit ScriptedTarget(std::uint32_t credits = 32) : credits_(credits) {}
    initiator::PortGid gid{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
    std::vector<std::vector<std::uint8_t>> login_requests;  // private data of every login, in order
    initiator::Connector connector();

    // Every IU that arrived since the last call (the target's receive ring is reposted).
    std::vector<Iu> receive();
    // SRP_RSP with a SCSI status (GOOD by default), returning req_lim_delta credits.
    void respond(const Iu& command, std::uint8_t status = 0, std::uint32_t req_lim_delta = 1);
    // SRP_RSP to a TSK_MGMT with RSP_CODE code (SRP r16a table 24).
    void respond_tmf(const Iu& tmf, std::uint8_t code, std::uint32_t req_lim_delta = 1);
    // SRP_CRED_REQ granting req_lim_delta credits, tagged tag (SRP r16a 6.10).
    void request_credit(std::size_t channel, std::uint64_t tag, std::uint32_t req_lim_delta = 0);
    // RDMA WRITE of bytes to the buffer the SRP_CMD's direct descriptor names
    // (its data-in descriptor when it has one, else its data-out one).
    fabric::CompletionStatus write_data_in(const Iu& command, std::span<const std::uint8_t> bytes);
    // RDMA READ into `into` from the memory the SRP_CMD's direct descriptor
    // names (its data-in descriptor when it has one, else its data-out one).
    fabric::CompletionStatus read_with_key(const Iu& command, std::span<std::uint8_t> into);
    // Whether the initiator's side of the next logins has memory windows.
    bool initiator_windows = true;

    std::size_t logins() const { return channels_.size(); }
    std::uint32_t receive_queue_depth = 0;  // what the last login asked the queue pair to hold
    fabric::LoopbackConnection& initiator_end(std::size_t channel) { return *channels_.at(channel)->initiator_end; }
    // Calls of the channel's peer_disconnected(): each one a system call on verbs.
    std::size_t cm_checks = 0;

private:
    struct Channel {
        std::shared_ptr<fabric::LoopbackDomain> initiator_domain = std::make_shared<fabric::LoopbackDomain>();
        std::shared_ptr<fabric::LoopbackNotifier> initiator_notifier = std::make_shared<fabric::LoopbackNotifier>();
        std::unique_ptr<fabric::LoopbackConnection> initiator_end, target_end;
        std::vector<std::uint8_t> ring, send_buffer;
        std::unique_ptr<fabric::Registration> ring_mr, send_mr;
    };
    void send(Channel& ch, std::span<const std::uint8_t> iu);

    std::uint32_t credits_;
    std::shared_ptr<fabric::LoopbackDomain> target_domain_ = std::make_shared<fabric::LoopbackDomain>();
    std::vector<std::shared_ptr<Channel>> channels_;
    std::uint64_t sends_ = 0;
};

}  // namespace srp::test
