/*
 * uart.c - the ns16550a console as a simple driver sees it.
 *
 *  - all printable ASCII characters and a long (300-character) line
 *  - LSR when idle: THRE and TEMT set, no data ready (stdin is /dev/null)
 *  - IIR with no interrupt pending, the scratch register, LCR and the
 *    divisor latch (DLAB) as an OS driver's init sequence uses them
 * Output goes through runtime.c's putchar (polls LSR.THRE before each byte).
 */
#include "runtime.h"

#define UART_IIR   2
#define UART_LCR   3
#define UART_SCR   7
#define UART_DLL   0        /* with LCR.DLAB = 1 */
#define UART_DLM   1        /* with LCR.DLAB = 1 */
#define LCR_DLAB   0x80
#define LCR_8N1    0x03

static uint8_t reg(int off) { return MMIO8(UART_BASE + off); }
static void set_reg(int off, uint8_t v) { MMIO8(UART_BASE + off) = v; }

int main(void)
{
    int ok = 1;

    puts("uart: printable ASCII");
    for (int c = 0x20; c < 0x7f; c++)
        putchar(c);
    putchar('\n');

    puts("uart: a 300-character line");
    for (int i = 0; i < 300; i++)
        putchar('a' + i % 26);
    putchar('\n');

    puts("uart: tab\tseparated\tfields");

    /* Idle: the transmitter has drained (it always has, on an emulator). */
    uint8_t lsr = reg(UART_LSR);
    printf("uart: LSR=0x%02x THRE=%d TEMT=%d DR=%d\n", lsr,
           (lsr & UART_LSR_THRE) != 0, (lsr & UART_LSR_TEMT) != 0, lsr & 1);
    ok &= (lsr & (UART_LSR_THRE | UART_LSR_TEMT)) == (UART_LSR_THRE | UART_LSR_TEMT);

    uint8_t iir = reg(UART_IIR);
    printf("uart: IIR=0x%02x (no interrupt pending: %s)\n", iir,
           (iir & 1) ? "yes" : "no");

    set_reg(UART_SCR, 0x5a);
    uint8_t scr1 = reg(UART_SCR);
    set_reg(UART_SCR, 0xa5);
    uint8_t scr2 = reg(UART_SCR);
    printf("uart: scratch register holds 0x5a: %s, 0xa5: %s\n",
           scr1 == 0x5a ? "yes" : "no", scr2 == 0xa5 ? "yes" : "no");
    ok &= scr1 == 0x5a && scr2 == 0xa5;

    /* Divisor latch: DLAB=1 maps DLL/DLM over THR/IER. */
    set_reg(UART_LCR, LCR_DLAB | LCR_8N1);
    set_reg(UART_DLL, 0x01);
    set_reg(UART_DLM, 0x00);
    uint8_t dll = reg(UART_DLL), dlm = reg(UART_DLM), lcr1 = reg(UART_LCR);
    set_reg(UART_LCR, LCR_8N1);
    uint8_t lcr2 = reg(UART_LCR);
    printf("uart: DLL=0x%02x DLM=0x%02x LCR=0x%02x, after DLAB off LCR=0x%02x\n",
           dll, dlm, lcr1, lcr2);
    ok &= dll == 1 && dlm == 0 && lcr1 == (LCR_DLAB | LCR_8N1) && lcr2 == LCR_8N1;

    puts("uart: still printing after the init sequence");
    lsr = reg(UART_LSR);
    printf("uart: LSR=0x%02x after printing\n", lsr);

    if (!ok) {
        puts("FAIL: uart");
        return 1;
    }
    puts("PASS");
    return 0;
}
