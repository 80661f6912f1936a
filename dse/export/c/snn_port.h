/*
 * snn_port.h -- the three things the example needs from its platform.
 * port_host.c implements them with stdio; cortex_m/port_semihost.c with
 * semihosting calls (a debugger or QEMU prints and exits for the target).
 */
#ifndef SNN_PORT_H
#define SNN_PORT_H

void port_write(const char *text);     /* write text as is (no newline added) */
void port_exit(int status);            /* end the program; 0: success */
unsigned long port_stack_bytes(void);  /* deepest stack use so far, 0 if not measured */

#endif /* SNN_PORT_H */
