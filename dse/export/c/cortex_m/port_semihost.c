/*
 * port_semihost.c -- snn_port.h over Arm semihosting: the program asks the
 * debugger (here QEMU, -semihosting-config enable=on) to print and to exit.
 */
#include "../snn_port.h"

#define SYS_WRITE0 0x04                /* print a NUL-terminated string */
#define SYS_EXIT 0x18                  /* stop, with a reason code */
#define ADP_APPLICATION_EXIT 0x20026   /* normal end: QEMU exits with status 0 */
#define ADP_RUNTIME_ERROR 0x20023      /* any other end: QEMU exits with status 1 */

static int semihost(int operation, const void *argument)
{
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void port_write(const char *text)
{
    semihost(SYS_WRITE0, text);
}

void port_exit(int status)
{
    semihost(SYS_EXIT, (const void *)(status == 0 ? ADP_APPLICATION_EXIT : ADP_RUNTIME_ERROR));
    for (;;) {
    }
}
