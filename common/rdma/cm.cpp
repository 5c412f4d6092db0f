#include "common/rdma/cm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

namespace srp::rdma {

RdmaDevice::RdmaDevice(ibv_context* context, std::size_t pollers)
    : context_(context), name_(device_name(context)), node_guid_(be64toh(ibv_get_device_guid(context->device))),
      domain_(context) {
    ibv_device_attr_ex attr{};
    if (ibv_query_device_ex(context, nullptr, &attr) == 0) {
        odp_.supported = (attr.odp_caps.general_caps & IBV_ODP_SUPPORT) != 0;
        odp_.rc_rdma_read = (attr.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_READ) != 0;
        odp_.rc_rdma_write = (attr.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_WRITE) != 0;
    }
    for (std::size_t i = 0; i < pollers; ++i) notifiers_.push_back(std::make_unique<VerbsNotifier>(context));
}

std::vector<std::string> RdmaDevice::addresses() const {
    // The netdevs behind port 1 are listed in sysfs per GID entry.
    std::vector<std::string> netdevs;
    const std::filesystem::path ndevs = "/sys/class/infiniband/" + name_ + "/ports/1/gid_attrs/ndevs";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(ndevs, ec)) {
        std::ifstream in(entry.path());
        std::string dev;
        if (in >> dev && std::find(netdevs.begin(), netdevs.end(), dev) == netdevs.end()) netdevs.push_back(dev);
    }
    std::vector<std::string> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
        if (std::find(netdevs.begin(), netdevs.end(), a->ifa_name) == netdevs.end()) continue;
        char host[NI_MAXHOST];
        if (::getnameinfo(a->ifa_addr, sizeof(sockaddr_in), host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0)
            out.emplace_back(host);
    }
    ::freeifaddrs(list);
    return out;
}

DeviceList::DeviceList(std::size_t pollers) : pollers_(pollers) {
    int count = 0;
    list_ = rdma_get_devices(&count);
    if (list_ == nullptr) throw_verb_error("rdma_get_devices", errno);
    for (int i = 0; i < count; ++i) devices_.push_back(std::make_unique<RdmaDevice>(list_[i], pollers));
}

DeviceList::~DeviceList() {
    devices_.clear();
    if (list_ != nullptr) rdma_free_devices(list_);
}

RdmaDevice* DeviceList::find(ibv_context* context) noexcept {
    for (auto& d : devices_)
        if (d->context() == context) return d.get();
    return nullptr;
}

namespace {
// nullopt when the kernel's list cannot be read (ENOMEM, EMFILE): that says
// nothing about any device, and must not look like "every device removed".
std::optional<std::vector<std::string>> listed_device_names() {
    int count = 0;
    ibv_device** list = ibv_get_device_list(&count);
    if (list == nullptr) return std::nullopt;
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.emplace_back(ibv_get_device_name(list[i]));
    ibv_free_device_list(list);
    return names;
}
}  // namespace

std::vector<RdmaDevice*> DeviceList::vanished() const {
    std::vector<RdmaDevice*> out;
    const auto listed = listed_device_names();
    if (!listed) return out;
    for (const auto& d : devices_)
        if (std::find(listed->begin(), listed->end(), d->name()) == listed->end()) out.push_back(d.get());
    return out;
}

void DeviceList::release(RdmaDevice* device) {
    std::erase_if(devices_, [device](const auto& d) { return d.get() == device; });
}

std::vector<RdmaDevice*> DeviceList::refresh() {
    std::vector<RdmaDevice*> added;
    int count = 0;
    ibv_context** fresh = rdma_get_devices(&count);
    // librdmacm (rdma-core 44) refuses to sync an empty device list: while
    // no RDMA device is left it neither lists new ones nor closes a removed
    // one (its removal waits). Keep our references and try again later.
    if (fresh == nullptr) return added;
    const auto listed = listed_device_names();
    // Our list's references must stay while we still use a device librdmacm
    // now calls dead (its release is not finished): handing them back would
    // let librdmacm close a context our queue pairs and PD still live on.
    const bool all_ours_listed = std::all_of(devices_.begin(), devices_.end(), [&](const auto& d) {
        return std::find(fresh, fresh + count, d->context()) != fresh + count;
    });
    if (!listed || !all_ours_listed) {
        rdma_free_devices(fresh);
        return added;
    }
    for (int i = 0; i < count; ++i) {
        // A context librdmacm still hands out for a device being removed
        // must not be opened again: that would hold the removal up forever.
        if (find(fresh[i]) != nullptr ||
            std::find(listed->begin(), listed->end(), device_name(fresh[i])) == listed->end())
            continue;
        try {
            devices_.push_back(std::make_unique<RdmaDevice>(fresh[i], pollers_));
            added.push_back(devices_.back().get());
        } catch (const std::system_error& e) {
            spdlog::error("RDMA device {}: cannot open it: {}", device_name(fresh[i]), e.what());
        }
    }
    if (list_ != nullptr) rdma_free_devices(list_);
    list_ = fresh;
    return added;
}

ConnectRequest::ConnectRequest(rdma_cm_id* id, std::vector<std::uint8_t> private_data, RdmaDevice* device)
    : id_(id), private_data_(std::move(private_data)), device_(device) {}

ConnectRequest::~ConnectRequest() {
    if (owned_ && rdma_destroy_id(id_) != 0) log_destroy_failure("rdma_destroy_id", errno);
}

std::string ConnectRequest::source_address() const {
    sockaddr* sa = rdma_get_peer_addr(id_);
    char host[NI_MAXHOST] = "?";
    if (sa != nullptr) {
        const socklen_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        ::getnameinfo(sa, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    }
    std::string s = host;
    if (s.rfind("::ffff:", 0) == 0) s = s.substr(7);  // IPv4-mapped
    return s;
}

std::unique_ptr<VerbsConnection> ConnectRequest::create_connection(std::size_t poller, QueueDepths depths,
                                                                   std::uint64_t token) {
    id_->context = reinterpret_cast<void*>(token);
    // The connection borrows the id: until accept() succeeds this request owns it.
    return std::make_unique<VerbsConnection>(VerbsConnection::BorrowedCmId{id_}, device_->domain(),
                                             device_->notifier(poller), depths);
}

int ConnectRequest::accept(VerbsConnection& connection, std::span<const std::uint8_t> private_data) {
    rdma_conn_param param = connection_parameters(device_->context(), private_data);
    if (rdma_accept(id_, &param) != 0) return errno;
    // Accepted: nothing after this can fail, so the connection takes the id.
    connection.adopt_cm_id(CmId(id_));
    owned_ = false;
    return 0;
}

void ConnectRequest::reject(std::span<const std::uint8_t> private_data) noexcept {
    if (rdma_reject(id_, private_data.data(), static_cast<std::uint8_t>(private_data.size())) != 0)
        log_destroy_failure("rdma_reject", errno);
}

CmListener::CmListener(DeviceList& devices, Handlers handlers)
    : devices_(devices), handlers_(std::move(handlers)), channel_(create_event_channel()) {
    const int flags = ::fcntl(channel_->fd, F_GETFL);
    if (flags < 0 || ::fcntl(channel_->fd, F_SETFL, flags | O_NONBLOCK) != 0) throw_verb_error("fcntl", errno);
}

void CmListener::listen(const std::string& host, std::uint16_t port) {
    listeners_.push_back(Listening{host, port, bind_and_listen(host, port)});
}

std::size_t CmListener::drop_listeners_on(ibv_context* context) {
    std::size_t dropped = 0;
    for (auto& l : listeners_)
        if (l.id && l.id->verbs == context) {
            l.id = CmId();
            ++dropped;
        }
    return dropped;
}

std::size_t CmListener::relisten() {
    std::size_t made = 0;
    for (auto& l : listeners_) {
        if (l.id) continue;
        try {
            l.id = bind_and_listen(l.host, l.port);
            ++made;
        } catch (const std::system_error&) {
            // The address has no RDMA device yet: tried again next time.
        }
    }
    return made;
}

CmId CmListener::bind_and_listen(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    addrinfo* info = nullptr;
    const std::string port_text = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &info); rc != 0)
        throw std::system_error(EINVAL, std::generic_category(), "listen address " + host + ": " + gai_strerror(rc));
    CmId id = create_cm_id(channel_.get(), nullptr);
    const int bound = rdma_bind_addr(id.get(), info->ai_addr);
    const int bind_errno = errno;
    ::freeaddrinfo(info);
    if (bound != 0) throw std::system_error(bind_errno, std::generic_category(), "rdma_bind_addr " + host + ":" + port_text);
    if (rdma_listen(id.get(), 128) != 0)
        throw std::system_error(errno, std::generic_category(), "rdma_listen " + host + ":" + port_text);
    return id;
}

void CmListener::process_events() {
    rdma_cm_event* event = nullptr;
    while (rdma_get_cm_event(channel_.get(), &event) == 0) {
        // Copy what we need and acknowledge first: rdma_destroy_id blocks
        // until the events of its id are acknowledged.
        const rdma_cm_event_type type = event->event;
        rdma_cm_id* id = event->id;
        const int status = event->status;
        std::vector<std::uint8_t> private_data;
        if (type == RDMA_CM_EVENT_CONNECT_REQUEST && event->param.conn.private_data != nullptr) {
            const auto* p = static_cast<const std::uint8_t*>(event->param.conn.private_data);
            private_data.assign(p, p + event->param.conn.private_data_len);
        }
        // The id's context (our token) is read before the ack: once acked,
        // a poller may destroy the id with its channel.
        const auto token = reinterpret_cast<std::uint64_t>(id->context);
        rdma_ack_cm_event(event);
        switch (type) {
            case RDMA_CM_EVENT_CONNECT_REQUEST: {
                ConnectRequest request(id, std::move(private_data), devices_.find(id->verbs));
                if (request.device() == nullptr) {
                    spdlog::error("connect request on an unknown RDMA device: rejected");
                    request.reject({});
                    break;
                }
                handlers_.on_connect_request(request);
                break;
            }
            case RDMA_CM_EVENT_ESTABLISHED: handlers_.on_event(token, CmEvent::established); break;
            case RDMA_CM_EVENT_DISCONNECTED: handlers_.on_event(token, CmEvent::disconnected); break;
            case RDMA_CM_EVENT_DEVICE_REMOVAL: handlers_.on_event(token, CmEvent::device_removal); break;
            case RDMA_CM_EVENT_TIMEWAIT_EXIT: break;
            default:
                spdlog::debug("RDMA/CM event {} status {}", rdma_event_str(type), status);
                if (token != 0) handlers_.on_event(token, CmEvent::error);
                break;
        }
    }
}

}  // namespace srp::rdma
