/*
 * plic.c - the UART's interrupt through the PLIC (QEMU virt: source 10,
 * context 0 = hart 0 M-mode, context 1 = hart 0 S-mode).
 *
 *  - priority, threshold and enable registers read back; priorities and
 *    thresholds keep 3 bits; claim with nothing pending returns 0
 *  - the UART's THR-empty interrupt is pending in the PLIC without being
 *    enabled; the request stays pending after IIR lowers the line, and is
 *    signalled once enabled
 *  - enabled, it arrives as mcause 0x800000000000000b; the handler claims
 *    10, IIR says THR empty, and completing ends it
 *  - mip.MEIP is set while mstatus.MIE masks it, taken once MIE is set
 *  - a threshold >= the priority masks it (pending still visible, claim
 *    returns 0); lowering the threshold or raising the priority delivers it
 *  - priority 0 never interrupts; its request waits for a priority
 *  - enabled only for the S context it raises mip.SEIP, not an M interrupt,
 *    and that context claims and completes it
 *  - a claimed source is not signalled again until completed; raised again
 *    while claimed, it is delivered after the completion
 * The UART's interrupt enables are off whenever anything is printed.
 */
#include "runtime.h"

#define PLIC_BASE            0x0c000000UL
#define PLIC_PRIORITY(s)     (PLIC_BASE + 4UL * (s))
#define PLIC_PENDING(w)      (PLIC_BASE + 0x1000UL + 4UL * (w))
#define PLIC_ENABLE(c, w)    (PLIC_BASE + 0x2000UL + 0x80UL * (c) + 4UL * (w))
#define PLIC_THRESHOLD(c)    (PLIC_BASE + 0x200000UL + 0x1000UL * (c))
#define PLIC_CLAIM(c)        (PLIC_BASE + 0x200004UL + 0x1000UL * (c))
#define CTX_M 0
#define CTX_S 1
#define UART_IRQ 10

#define UART_IER        1
#define UART_IIR        2
#define UART_FCR        2
#define IER_THRI        0x02

#define MIP_SEIP        (1UL << 9)
#define MIP_MEIP        (1UL << 11)
#define MIE_MEIE        (1UL << 11)
#define MSTATUS_MIE     (1UL << 3)
#define CAUSE_INTERRUPT (1UL << 63)
#define IRQ_M_EXT       11

static volatile uint64_t irqs, last_cause, spurious;
static volatile uint32_t last_claim, last_iir;

static uint32_t plic(uint64_t addr) { return MMIO32(addr); }
static void set_plic(uint64_t addr, uint32_t v) { MMIO32(addr) = v; }
static int uart_pending(void) { return (plic(PLIC_PENDING(0)) >> UART_IRQ) & 1; }
static int meip(void) { return (read_csr(mip) & MIP_MEIP) != 0; }
static int seip(void) { return (read_csr(mip) & MIP_SEIP) != 0; }
static void set_ier(uint8_t v) { MMIO8(UART_BASE + UART_IER) = v; }
static uint8_t iir(void) { return MMIO8(UART_BASE + UART_IIR); }

/* Raises the UART's THR-empty interrupt: it fires when the enable goes on. */
static void raise_thr_empty(void)
{
    set_ier(0);
    set_ier(IER_THRI);
}

static void settle(void)
{
    for (volatile int i = 0; i < 100; i++)
        ;
}

/* Called from trap_entry (runtime.c) with all caller-saved registers saved. */
void handle_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    if (cause != (CAUSE_INTERRUPT | IRQ_M_EXT)) {
        printf("unexpected trap mcause=0x%lx mepc=0x%lx mtval=0x%lx\n",
               cause, epc, tval);
        exit(255);
    }
    last_cause = cause;
    irqs++;
    uint32_t id = plic(PLIC_CLAIM(CTX_M));
    last_claim = id;
    if (id == UART_IRQ) {
        last_iir = iir();           /* acknowledges THR empty */
        set_plic(PLIC_CLAIM(CTX_M), id);
    } else {
        spurious++;
    }
    if (irqs > 50)                  /* a storm: stop it, main reports it */
        write_csr(mie, 0);
}


static const char *yn(int b) { return b ? "yes" : "no"; }

int main(void)
{
    int ok = 1;

    puts("plic: PLIC source 10 (UART) to hart 0");
    write_csr(mie, 0);
    write_csr(mtvec, (uint64_t)trap_entry);

    /* Registers. */
    uint32_t prio_reset = plic(PLIC_PRIORITY(UART_IRQ));
    set_plic(PLIC_PRIORITY(UART_IRQ), 7);
    uint32_t prio7 = plic(PLIC_PRIORITY(UART_IRQ));
    set_plic(PLIC_PRIORITY(UART_IRQ), 0xf);
    uint32_t prio15 = plic(PLIC_PRIORITY(UART_IRQ));
    set_plic(PLIC_PRIORITY(UART_IRQ), 9);
    uint32_t prio9 = plic(PLIC_PRIORITY(UART_IRQ));
    printf("plic: priority at reset %u, after writing 7: %u, 15: %u, 9: %u\n",
           prio_reset, prio7, prio15, prio9);
    set_plic(PLIC_THRESHOLD(CTX_M), 5);
    uint32_t thr5 = plic(PLIC_THRESHOLD(CTX_M));
    set_plic(PLIC_THRESHOLD(CTX_M), 0xb);
    uint32_t thr11 = plic(PLIC_THRESHOLD(CTX_M));
    uint32_t thr_s = plic(PLIC_THRESHOLD(CTX_S));
    set_plic(PLIC_THRESHOLD(CTX_M), 0);
    printf("plic: threshold after writing 5: %u, 11: %u; S context's: %u\n",
           thr5, thr11, thr_s);
    set_plic(PLIC_ENABLE(CTX_M, 0), 0xc00);
    set_plic(PLIC_ENABLE(CTX_M, 1), 0x80000001);
    set_plic(PLIC_ENABLE(CTX_M, 2), 0xffffffff);
    printf("plic: enables read back 0x%x 0x%x 0x%x, S context's 0x%x\n",
           plic(PLIC_ENABLE(CTX_M, 0)), plic(PLIC_ENABLE(CTX_M, 1)),
           plic(PLIC_ENABLE(CTX_M, 2)), plic(PLIC_ENABLE(CTX_S, 0)));
    set_plic(PLIC_ENABLE(CTX_M, 0), 0);
    set_plic(PLIC_ENABLE(CTX_M, 1), 0);
    set_plic(PLIC_ENABLE(CTX_M, 2), 0);
    printf("plic: pending 0x%x 0x%x 0x%x, claim with nothing pending: %u\n",
           plic(PLIC_PENDING(0)), plic(PLIC_PENDING(1)), plic(PLIC_PENDING(2)),
           plic(PLIC_CLAIM(CTX_M)));

    /* Pending in the PLIC, but enabled for no context. */
    raise_thr_empty();
    int p_before = uart_pending(), meip_before = meip();
    uint8_t iir_value = iir();
    int p_after = uart_pending();
    set_ier(0);
    printf("plic: THR empty, not enabled: pending %d, MEIP %d; IIR 0x%02x; pending after IIR %d\n",
           p_before, meip_before, iir_value, p_after);
    ok &= p_before && !meip_before && iir_value == 0x02 && p_after;
    /* The request waits for a claim.  (QEMU looks at new enables only at
       the next PLIC event: the threshold write is one.) */
    set_plic(PLIC_PRIORITY(UART_IRQ), 1);
    set_plic(PLIC_ENABLE(CTX_M, 0), 1U << UART_IRQ);
    set_plic(PLIC_THRESHOLD(CTX_M), 0);
    int late_meip = meip();
    uint32_t late_claim = plic(PLIC_CLAIM(CTX_M));
    int late_pending = uart_pending(), late_meip_claimed = meip();
    set_plic(PLIC_CLAIM(CTX_M), late_claim);
    printf("plic: enabled later: MEIP %d, claim %u, then pending %d, MEIP %d\n",
           late_meip, late_claim, late_pending, late_meip_claimed);
    printf("plic: after completion: pending %d, MEIP %d, claim %u\n",
           uart_pending(), meip(), plic(PLIC_CLAIM(CTX_M)));
    ok &= late_meip && late_claim == UART_IRQ && !late_pending && !late_meip_claimed;

    /* Enabled for hart 0's M context, priority 1 > threshold 0. */
    write_csr(mie, MIE_MEIE);
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    clear_csr(mstatus, MSTATUS_MIE);
    set_ier(0);
    printf("plic: %lu interrupt, mcause 0x%lx, claimed %u, IIR 0x%02x\n",
           irqs, last_cause, last_claim, last_iir);
    printf("plic: after completion: pending %d, MEIP %d, claim %u\n",
           uart_pending(), meip(), plic(PLIC_CLAIM(CTX_M)));
    ok &= irqs == 1 && last_cause == (CAUSE_INTERRUPT | IRQ_M_EXT) &&
          last_claim == UART_IRQ && last_iir == 0x02;

    /* Masked by mstatus.MIE: MEIP visible, taken once MIE is set. */
    raise_thr_empty();
    int masked_meip = meip();
    uint64_t masked_irqs = irqs;
    set_csr(mstatus, MSTATUS_MIE);
    settle();
    clear_csr(mstatus, MSTATUS_MIE);
    set_ier(0);
    printf("plic: with MIE=0: MEIP %d, taken %s; once MIE=1: taken %s\n",
           masked_meip, yn(masked_irqs != 1), yn(irqs == 2));
    ok &= masked_meip && masked_irqs == 1 && irqs == 2;

    /* Threshold 1 = priority 1: masked until the threshold is lowered. */
    set_plic(PLIC_THRESHOLD(CTX_M), 1);
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    int th_irqs = irqs, th_pending = uart_pending(), th_meip = meip();
    uint32_t th_claim = plic(PLIC_CLAIM(CTX_M));
    set_plic(PLIC_THRESHOLD(CTX_M), 0);
    settle();
    int th_lowered = irqs;
    clear_csr(mstatus, MSTATUS_MIE);
    set_ier(0);
    printf("plic: threshold 1, priority 1: interrupts %d, pending %d, MEIP %d, claim %u\n",
           th_irqs - 2, th_pending, th_meip, th_claim);
    printf("plic: threshold lowered to 0: interrupts %d, claimed %u, IIR 0x%02x\n",
           th_lowered - 2, last_claim, last_iir);
    ok &= th_irqs == 2 && th_pending && !th_meip && th_claim == 0 && th_lowered == 3;

    /* Threshold 3: priority 3 is masked, priority 4 gets through. */
    set_plic(PLIC_THRESHOLD(CTX_M), 3);
    set_plic(PLIC_PRIORITY(UART_IRQ), 3);
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    int p3_irqs = irqs;
    set_plic(PLIC_PRIORITY(UART_IRQ), 4);
    settle();
    int p4_irqs = irqs;
    clear_csr(mstatus, MSTATUS_MIE);
    set_ier(0);
    set_plic(PLIC_THRESHOLD(CTX_M), 0);
    printf("plic: threshold 3: priority 3 interrupts %d, raised to 4: %d\n",
           p3_irqs - 3, p4_irqs - 3);
    ok &= p3_irqs == 3 && p4_irqs == 4;

    /* Priority 0 never interrupts; the request waits for a priority. */
    set_plic(PLIC_PRIORITY(UART_IRQ), 0);
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    clear_csr(mstatus, MSTATUS_MIE);
    int z_irqs = irqs, z_pending = uart_pending(), z_meip = meip();
    uint32_t z_claim = plic(PLIC_CLAIM(CTX_M));
    uint8_t z_iir = iir();
    int z_after = uart_pending();
    set_ier(0);
    set_plic(PLIC_PRIORITY(UART_IRQ), 1);
    int z_meip_later = meip();
    uint32_t z_claim_later = plic(PLIC_CLAIM(CTX_M));
    set_plic(PLIC_CLAIM(CTX_M), z_claim_later);
    printf("plic: priority 0: interrupts %d, pending %d, MEIP %d, claim %u; IIR 0x%02x, pending after IIR %d\n",
           z_irqs - 4, z_pending, z_meip, z_claim, z_iir, z_after);
    printf("plic: priority raised to 1: MEIP %d, claim %u, MEIP after completion %d\n",
           z_meip_later, z_claim_later, meip());
    ok &= z_irqs == 4 && z_pending && !z_meip && z_claim == 0 && z_iir == 0x02 && z_after &&
          z_meip_later && z_claim_later == UART_IRQ;

    /* Enabled only for the S context: SEIP, no M interrupt. */
    set_plic(PLIC_ENABLE(CTX_M, 0), 0);
    set_plic(PLIC_ENABLE(CTX_S, 0), 1U << UART_IRQ);
    set_plic(PLIC_PRIORITY(UART_IRQ), 2);
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    clear_csr(mstatus, MSTATUS_MIE);
    int s_irqs = irqs, s_seip = seip(), s_meip = meip();
    uint32_t m_claim = plic(PLIC_CLAIM(CTX_M));
    uint32_t s_claim = plic(PLIC_CLAIM(CTX_S));
    int s_seip_claimed = seip();
    uint8_t s_iir = iir();
    set_plic(PLIC_CLAIM(CTX_S), s_claim);
    int s_seip_done = seip();
    set_ier(0);
    set_plic(PLIC_ENABLE(CTX_S, 0), 0);
    set_plic(PLIC_ENABLE(CTX_M, 0), 1U << UART_IRQ);
    printf("plic: S context only: M interrupts %d, SEIP %d, MEIP %d, M claim %u, S claim %u\n",
           s_irqs - 4, s_seip, s_meip, m_claim, s_claim);
    printf("plic: S context: SEIP after claim %d, IIR 0x%02x, SEIP after completion %d\n",
           s_seip_claimed, s_iir, s_seip_done);
    ok &= s_irqs == 4 && s_seip && !s_meip && m_claim == 0 && s_claim == UART_IRQ &&
          !s_seip_claimed && s_iir == 0x02 && !s_seip_done;

    /* Claimed by hand (MIE=0): not signalled again until completed, and a
       new event while claimed arrives after the completion. */
    raise_thr_empty();
    int c_meip = meip();
    uint32_t c_claim = plic(PLIC_CLAIM(CTX_M));
    int c_pending = uart_pending(), c_meip_claimed = meip();
    uint32_t c_claim2 = plic(PLIC_CLAIM(CTX_M));
    iir();
    MMIO8(UART_BASE + UART_THR) = '#';  /* empties the transmitter again */
    set_plic(PLIC_CLAIM(CTX_M), c_claim);
    int c_meip_done = meip();
    uint32_t c_claim3 = plic(PLIC_CLAIM(CTX_M));
    uint8_t c_iir = iir();
    set_plic(PLIC_CLAIM(CTX_M), c_claim3);
    int c_meip_end = meip();
    set_ier(0);
    printf(" <- written while 10 was claimed\n");
    printf("plic: MEIP %d, claim %u, then pending %d, MEIP %d, claim again %u\n",
           c_meip, c_claim, c_pending, c_meip_claimed, c_claim2);
    printf("plic: raised again while claimed: MEIP after completion %d, claim %u, IIR 0x%02x, MEIP at the end %d\n",
           c_meip_done, c_claim3, c_iir, c_meip_end);
    ok &= c_meip && c_claim == UART_IRQ && !c_pending && !c_meip_claimed && c_claim2 == 0 &&
          c_meip_done && c_claim3 == UART_IRQ && c_iir == 0x02 && !c_meip_end;

    /* With the FIFO enabled, IIR carries its bits. */
    MMIO8(UART_BASE + UART_FCR) = 0x07;
    set_csr(mstatus, MSTATUS_MIE);
    raise_thr_empty();
    settle();
    clear_csr(mstatus, MSTATUS_MIE);
    set_ier(0);
    write_csr(mie, 0);
    printf("plic: with the FIFO enabled: interrupts %lu, claimed %u, IIR 0x%02x\n",
           irqs - 4, last_claim, last_iir);
    ok &= irqs == 5 && last_claim == UART_IRQ && last_iir == 0xc2;

    printf("plic: %lu interrupts in all, %lu spurious\n", irqs, spurious);
    ok &= spurious == 0;
    if (!ok) {
        puts("FAIL: plic");
        return 1;
    }
    puts("PASS");
    return 0;
}
