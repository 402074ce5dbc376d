// A polyhart machine as the CPU cluster of a SystemC TLM-2.0 virtual
// platform.
//
// PolyhartCpu wraps a polyhart machine as a TLM-2.0 initiator
// (tlm_utils::simple_initiator_socket) kept in step with SystemC time by a
// tlm_utils::tlm_quantumkeeper. Its socket goes through a Router to three
// SystemC target models in polyhart's external region at 0x20000000:
//
//   0x20000000 Console  a byte written at +0 is printed
//   0x20001000 Timer    +0 NOW (ns), +8 ALARM (raise irq this many ns
//                       later), +16 ACK (lower it); its irq drives PLIC
//                       source 32 of the machine
//   0x20002000 Memory   4 KiB, granted to polyhart through DMI
//   0x20003000 -        an address error: the hart takes an access fault
//
// Usage:
//   systemc_example GUEST.elf                 run tests/guest/cosim.elf and
//                                             check its output and timing
//   systemc_example --bench GUEST.elf Q_US    any guest through the bridge
//                                             with a Q_US microsecond quantum
//   systemc_example --standalone GUEST.elf    the same guest driven without
//                                             SystemC, for comparison

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "polyhart.h"

using namespace sc_core;

static const uint64_t EXT_BASE = 0x20000000;
static const uint32_t ALARM_IRQ = 32;

static uint64_t ps_of(const sc_time &t) { return t.value(); }  // resolution: 1 ps
static sc_time time_of_ps(uint64_t ps) { return sc_time::from_value(ps); }

static uint64_t get_le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

static void put_le(unsigned char *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++) p[i] = uint8_t(v >> (8 * i));
}

// ---- SystemC target models ----------------------------------------------

struct Console : sc_module {
    tlm_utils::simple_target_socket<Console> socket;
    std::string text;
    bool echo = true;

    SC_CTOR(Console) : socket("socket") { socket.register_b_transport(this, &Console::b_transport); }

    void b_transport(tlm::tlm_generic_payload &gp, sc_time &delay)
    {
        if (gp.get_address() != 0 || !gp.is_write()) {
            gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        char c = char(gp.get_data_ptr()[0]);
        text += c;
        if (echo) std::cout << c << std::flush;
        delay += sc_time(20, SC_NS);
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }
};

SC_MODULE(Timer) {
    tlm_utils::simple_target_socket<Timer> socket;
    sc_out<bool> irq;
    sc_event alarm, ack;
    sc_time fired_at = SC_ZERO_TIME;
    sc_time armed_for = SC_ZERO_TIME;

    SC_CTOR(Timer) : socket("socket"), irq("irq")
    {
        socket.register_b_transport(this, &Timer::b_transport);
        SC_METHOD(drive);
        sensitive << alarm << ack;
        dont_initialize();
    }

    // The one process that drives the line: b_transport runs in the
    // initiator's process, so it only notifies.
    void drive()
    {
        if (alarm.triggered()) {
            fired_at = sc_time_stamp();
            irq.write(true);
        } else {
            irq.write(false);
        }
    }

    void b_transport(tlm::tlm_generic_payload &gp, sc_time &delay)
    {
        unsigned char *data = gp.get_data_ptr();
        unsigned len = gp.get_data_length();
        sc_time at = sc_time_stamp() + delay;
        switch (gp.get_address()) {
        case 0x0:
            if (!gp.is_read()) goto error;
            put_le(data, len, ps_of(at) / 1000);
            break;
        case 0x8:
            if (!gp.is_write()) goto error;
            armed_for = at + sc_time(double(get_le(data, len)), SC_NS);
            alarm.notify(armed_for - sc_time_stamp());
            break;
        case 0x10:
            // The line must be low before the guest's next access (it
            // completes the interrupt at the PLIC next): catch up with the
            // hart's time, lower it, and let the CPU see the change
            // (two delta cycles: this model's process, then the CPU's).
            if (!gp.is_write()) goto error;
            wait(delay);
            delay = SC_ZERO_TIME;
            ack.notify();
            wait(SC_ZERO_TIME);
            wait(SC_ZERO_TIME);
            break;
        default:
            goto error;
        }
        delay += sc_time(10, SC_NS);
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
        return;
    error:
        gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    }
};

struct Memory : sc_module {
    tlm_utils::simple_target_socket<Memory> socket;
    unsigned char data[4096] = {};
    uint64_t transports = 0;

    SC_CTOR(Memory) : socket("socket")
    {
        socket.register_b_transport(this, &Memory::b_transport);
        socket.register_get_direct_mem_ptr(this, &Memory::get_direct_mem_ptr);
    }

    void b_transport(tlm::tlm_generic_payload &gp, sc_time &delay)
    {
        transports++;
        uint64_t a = gp.get_address();
        unsigned len = gp.get_data_length();
        if (a + len > sizeof data) {
            gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        if (gp.is_read()) std::memcpy(gp.get_data_ptr(), data + a, len);
        else std::memcpy(data + a, gp.get_data_ptr(), len);
        delay += sc_time(5, SC_NS);
        gp.set_dmi_allowed(true);
        gp.set_response_status(tlm::TLM_OK_RESPONSE);
    }

    bool get_direct_mem_ptr(tlm::tlm_generic_payload &, tlm::tlm_dmi &dmi)
    {
        dmi.set_dmi_ptr(data);
        dmi.set_start_address(0);
        dmi.set_end_address(sizeof data - 1);
        dmi.allow_read_write();
        dmi.set_read_latency(sc_time(1, SC_NS));
        dmi.set_write_latency(sc_time(1, SC_NS));
        return true;
    }
};

// Decodes addresses onto its targets (base, size) and back for DMI.
struct Router : sc_module {
    static const int N = 3;
    tlm_utils::simple_target_socket<Router> in;
    tlm_utils::simple_initiator_socket_tagged<Router> out[N];
    uint64_t base[N], size[N];

    SC_CTOR(Router) : in("in")
    {
        in.register_b_transport(this, &Router::b_transport);
        in.register_get_direct_mem_ptr(this, &Router::get_direct_mem_ptr);
        for (int i = 0; i < N; i++) out[i].register_invalidate_direct_mem_ptr(this, &Router::invalidate, i);
    }

    int decode(uint64_t a) const
    {
        for (int i = 0; i < N; i++)
            if (a >= base[i] && a < base[i] + size[i]) return i;
        return -1;
    }

    void b_transport(tlm::tlm_generic_payload &gp, sc_time &delay)
    {
        uint64_t a = gp.get_address();
        int i = decode(a);
        if (i < 0) {
            gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
            return;
        }
        gp.set_address(a - base[i]);
        out[i]->b_transport(gp, delay);
        gp.set_address(a);
    }

    bool get_direct_mem_ptr(tlm::tlm_generic_payload &gp, tlm::tlm_dmi &dmi)
    {
        uint64_t a = gp.get_address();
        int i = decode(a);
        if (i < 0) return false;
        gp.set_address(a - base[i]);
        bool ok = out[i]->get_direct_mem_ptr(gp, dmi);
        gp.set_address(a);
        dmi.set_start_address(dmi.get_start_address() + base[i]);
        dmi.set_end_address(dmi.get_end_address() + base[i]);
        return ok;
    }

    void invalidate(int i, sc_dt::uint64 start, sc_dt::uint64 end)
    {
        in->invalidate_direct_mem_ptr(start + base[i], end + base[i]);
    }
};

// ---- the polyhart machine as a TLM-2.0 initiator ---------------------------

struct PolyhartCpu : sc_module {
    SC_HAS_PROCESS(PolyhartCpu);
    tlm_utils::simple_initiator_socket<PolyhartCpu> socket;
    sc_in<bool> irq;
    tlm_utils::tlm_quantumkeeper qk;
    polyhart_cosim *m = nullptr;
    polyhart_advance_result last = {};
    uint64_t advances = 0, transports = 0;
    bool dmi_granted = false;

    PolyhartCpu(sc_module_name name, const char *guest, uint32_t harts, bool echo)
        : sc_module(name), socket("socket"), irq("irq")
    {
        socket.register_invalidate_direct_mem_ptr(this, &PolyhartCpu::invalidate);
        polyhart_builder *b;
        check(polyhart_builder_new(&b), "builder");
        check(polyhart_builder_set_harts(b, harts), "harts");
        use_jit_if_asked(b);
        if (!echo) check(polyhart_builder_set_console(b, discard, nullptr), "console");
        check(polyhart_builder_set_kernel_file(b, guest), guest);
        check(polyhart_builder_set_quantum(b, ps_of(tlm::tlm_global_quantum::instance().get())), "quantum");
        check(polyhart_builder_add_region(b, "systemc", EXT_BASE, 0x10000, serve, this, nullptr), "region");
        char error[256] = "";
        if (polyhart_build(b, &m, error, sizeof error) != POLYHART_OK) {
            std::cerr << "polyhart: " << error << "\n";
            std::exit(1);
        }
        debug_if_asked();
        SC_THREAD(run);
        SC_METHOD(irq_changed);
        sensitive << irq;
        dont_initialize();
    }

    ~PolyhartCpu() { polyhart_free(m); }

    static void use_jit_if_asked(polyhart_builder *b);
    void debug_if_asked();

    static void discard(void *, const uint8_t *, size_t) {}

    static void check(polyhart_status s, const char *what)
    {
        if (s != POLYHART_OK) {
            std::cerr << "polyhart: " << what << ": " << polyhart_status_name(s) << "\n";
            std::exit(1);
        }
    }

    // Called by polyhart, on this SC_THREAD, inside polyhart_advance. No
    // exception may cross back into polyhart.
    static int32_t serve(void *user, polyhart_transaction *tx)
    {
        try {
            return static_cast<PolyhartCpu *>(user)->transport(tx);
        } catch (const std::exception &e) {
            std::cerr << "b_transport failed: " << e.what() << "\n";
            return POLYHART_RESP_GENERIC_ERROR;
        }
    }

    int32_t transport(polyhart_transaction *tx)
    {
        PolyhartCpu *self = this;
        self->transports++;
        tlm::tlm_generic_payload gp;
        gp.set_command(tx->command == POLYHART_READ ? tlm::TLM_READ_COMMAND : tlm::TLM_WRITE_COMMAND);
        gp.set_address(tx->address);
        gp.set_data_ptr(tx->data);
        gp.set_data_length(tx->size);
        gp.set_streaming_width(tx->size);
        gp.set_byte_enable_ptr(nullptr);  // every byte, as a hart's access
        gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        // The hart's local time is polyhart's time plus its offset; targets
        // may wait() inside b_transport, so SystemC's time can move while
        // polyhart's stands: offsets are taken from each one's own.
        uint64_t polyhart_now = 0;
        polyhart_now_or_die(polyhart_now);
        sc_time hart_time = time_of_ps(polyhart_now + tx->delay_ps);
        sc_time delay = hart_time > sc_time_stamp() ? hart_time - sc_time_stamp() : SC_ZERO_TIME;
        self->socket->b_transport(gp, delay);
        tx->delay_ps = ps_of(sc_time_stamp() + delay) - polyhart_now;
        switch (gp.get_response_status()) {
        case tlm::TLM_OK_RESPONSE: return POLYHART_RESP_OK;
        case tlm::TLM_ADDRESS_ERROR_RESPONSE: return POLYHART_RESP_ADDRESS_ERROR;
        case tlm::TLM_COMMAND_ERROR_RESPONSE: return POLYHART_RESP_COMMAND_ERROR;
        default: return POLYHART_RESP_GENERIC_ERROR;
        }
    }

    void invalidate(sc_dt::uint64 start, sc_dt::uint64 end)
    {
        check(polyhart_revoke_dmi(m, 0, start, end + 1), "revoke DMI");
    }

    // SystemC's time is the hart's here (the CPU syncs after each advance,
    // and a target waits for the hart before it acts), so at once.
    void irq_changed() { check(polyhart_set_irq(m, ALARM_IRQ, irq.read()), "irq"); }

    void polyhart_now_or_die(uint64_t &ps) { check(polyhart_now(m, &ps), "now"); }

    void grant_memory_dmi(uint64_t address)
    {
        tlm::tlm_generic_payload gp;
        tlm::tlm_dmi dmi;
        gp.set_address(address);
        gp.set_command(tlm::TLM_READ_COMMAND);
        if (!socket->get_direct_mem_ptr(gp, dmi)) return;
        check(polyhart_grant_dmi(m, 0, dmi.get_start_address(), dmi.get_end_address() - dmi.get_start_address() + 1,
                                 dmi.get_dmi_ptr(), dmi.is_read_allowed(), dmi.is_write_allowed(),
                                 ps_of(dmi.get_read_latency()), ps_of(dmi.get_write_latency())),
              "grant DMI");
        dmi_granted = true;
    }

    void run()
    {
        grant_memory_dmi(EXT_BASE + 0x2000);
        qk.reset();
        for (;;) {
            // Up to SystemC's next quantum boundary.
            uint64_t now = 0;
            polyhart_now_or_die(now);
            sc_time boundary = sc_time_stamp() + tlm::tlm_global_quantum::instance().compute_local_quantum();
            check(polyhart_advance(m, ps_of(boundary) - now, &last), "advance");
            advances++;
            sc_time reached = time_of_ps(last.time_ps);
            qk.set(reached > sc_time_stamp() ? reached - sc_time_stamp() : SC_ZERO_TIME);
            if (last.end == POLYHART_STOPPED) {
                qk.sync();
                sc_stop();
                return;
            }
            if (last.end == POLYHART_SYNC || qk.need_sync()) qk.sync();
        }
    }
};

struct Platform : sc_module {
    PolyhartCpu cpu;
    Router router;
    Console console;
    Timer timer;
    Memory memory;
    sc_signal<bool> irq;

    Platform(sc_module_name name, const char *guest, bool echo)
        : sc_module(name), cpu("cpu", guest, 1, echo), router("router"), console("console"), timer("timer"),
          memory("memory"), irq("irq")
    {
        cpu.socket.bind(router.in);
        uint64_t bases[] = {EXT_BASE, EXT_BASE + 0x1000, EXT_BASE + 0x2000};
        router.out[0].bind(console.socket);
        router.out[1].bind(timer.socket);
        router.out[2].bind(memory.socket);
        for (int i = 0; i < Router::N; i++) {
            router.base[i] = bases[i];
            router.size[i] = 0x1000;
        }
        timer.irq(irq);
        cpu.irq(irq);
    }
};

// POLYHART_JIT=N in the environment: the JIT with threshold N.
void PolyhartCpu::use_jit_if_asked(polyhart_builder *b)
{
    if (const char *threshold = std::getenv("POLYHART_JIT"))
        PolyhartCpu::check(polyhart_builder_set_jit(b, 1, uint32_t(std::atoi(threshold))), "jit");
}

// POLYHART_GDB=HOST:PORT in the environment: wait for GDB there before the
// simulation starts. A breakpoint or Ctrl-C then stops the guest inside
// polyhart_advance; SystemC time stands still while GDB holds it.
void PolyhartCpu::debug_if_asked()
{
    if (const char *address = std::getenv("POLYHART_GDB")) {
        std::cerr << "systemc_example: waiting for GDB on " << address << std::endl;
        check(polyhart_debug(m, address), "debug");
    }
}

static const char *EXPECTED =
    "cosim: hello from the guest\n"
    "scratch sum 6112\n"
    "amo old 40 then 42, now 7\n"
    "time advances: yes\n"
    "load fault: cause 5 tval 0x20003000\n"
    "store fault: cause 7 tval 0x20003004\n"
    "alarm: source 32, not early: yes\n"
    "cosim: done\n";

static double seconds_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The same guest driven without SystemC: one advance after another.
static int standalone(const char *guest)
{
    polyhart_builder *b;
    polyhart_builder_new(&b);
    polyhart_builder_set_console(b, PolyhartCpu::discard, nullptr);
    PolyhartCpu::use_jit_if_asked(b);
    if (polyhart_builder_set_kernel_file(b, guest) != POLYHART_OK) return 1;
    polyhart_cosim *m;
    char error[256];
    if (polyhart_build(b, &m, error, sizeof error) != POLYHART_OK) {
        std::cerr << error << "\n";
        return 1;
    }
    auto start = std::chrono::steady_clock::now();
    polyhart_advance_result r;
    do polyhart_advance(m, UINT64_MAX / 2, &r);
    while (r.end != POLYHART_STOPPED);
    double wall = seconds_since(start);
    uint64_t n;
    polyhart_instructions(m, &n);
    polyhart_free(m);
    std::printf("standalone: wall %.3f s, %llu instructions, exit %d\n", wall, (unsigned long long)n, r.exit_code);
    return r.exit_code;
}

int sc_main(int argc, char **argv)
{
    sc_set_time_resolution(1, SC_PS);
    bool bench = argc == 4 && std::string(argv[1]) == "--bench";
    if (argc == 3 && std::string(argv[1]) == "--standalone") return standalone(argv[2]);
    if (!bench && argc != 2) {
        std::cerr << "usage: systemc_example GUEST.elf | --bench GUEST.elf QUANTUM_US | --standalone GUEST.elf\n";
        return 2;
    }
    const char *guest = bench ? argv[2] : argv[1];
    double quantum_us = bench ? std::atof(argv[3]) : 10.0;
    tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_time(quantum_us, SC_US));

    Platform platform("platform", guest, !bench);
    auto start = std::chrono::steady_clock::now();
    sc_start();
    double wall = seconds_since(start);
    PolyhartCpu &cpu = platform.cpu;
    uint64_t now_ps = 0, instructions = 0;
    polyhart_now(cpu.m, &now_ps);
    polyhart_instructions(cpu.m, &instructions);
    if (bench) {
        std::printf("bridge: quantum %g us, wall %.3f s, %llu instructions, %llu advances, exit %d\n", quantum_us, wall,
                    (unsigned long long)instructions, (unsigned long long)cpu.advances, cpu.last.exit_code);
        return cpu.last.exit_code;
    }

    int failures = 0;
    auto expect = [&](bool ok, const std::string &what) {
        std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
        if (!ok) failures++;
    };
    expect(cpu.last.end == POLYHART_STOPPED && cpu.last.stop == POLYHART_STOP_EXIT && cpu.last.exit_code == 0,
           "the guest exited with status 0");
    expect(platform.console.text == EXPECTED, "the guest's output through the SystemC console");
    expect(ps_of(sc_time_stamp()) == now_ps,
           "SystemC time (" + sc_time_stamp().to_string() + ") is polyhart's (" + std::to_string(now_ps) + " ps)");
    expect(platform.timer.fired_at == platform.timer.armed_for && platform.timer.fired_at > SC_ZERO_TIME,
           "the SystemC timer fired at " + platform.timer.fired_at.to_string());
    expect(cpu.dmi_granted && platform.memory.transports == 0, "scratch memory reached only through DMI");
    expect(sc_time_stamp() > platform.timer.fired_at, "the simulation went on past the alarm");
    std::printf("simulated time %s, %llu instructions, %llu advances, %llu transactions\n",
                sc_time_stamp().to_string().c_str(), (unsigned long long)instructions,
                (unsigned long long)cpu.advances, (unsigned long long)cpu.transports);
    return failures ? 1 : 0;
}
