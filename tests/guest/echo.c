/*
 * echo.c - console input for the record/replay test (tests/cli.rs): reads
 * lines from the UART by polling its line status, and prints each with
 * the mcycle at which its newline arrived, until a 'q'. Where input lands
 * in simulated time depends on when the host typed it, so two runs differ
 * unless the second replays the first's recording. Not in the manifest: it
 * needs input, and its figures depend on the run.
 */
#include "runtime.h"

#define UART_RBR     0
#define UART_LSR_DR  0x01   /* data ready */

int main(void)
{
    char line[80];
    int n = 0;
    puts("echo: lines, q to quit");
    for (;;) {
        while (!(MMIO8(UART_BASE + UART_LSR) & UART_LSR_DR))
            ;
        char c = MMIO8(UART_BASE + UART_RBR);
        if (c == 'q')
            break;
        if (c == '\n' || n == (int)sizeof(line) - 1) {
            line[n] = 0;
            printf("%s @%x\n", line, (unsigned)read_csr(mcycle));
            n = 0;
        } else {
            line[n++] = c;
        }
    }
    printf("bye @%x\n", (unsigned)read_csr(mcycle));
    return 0;
}
