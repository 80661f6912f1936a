/* port_host.c -- snn_port.h on a hosted C library. */
#include <stdio.h>
#include <stdlib.h>

#include "snn_port.h"

void port_write(const char *text)
{
    fputs(text, stdout);
}

void port_exit(int status)
{
    fflush(stdout);
    exit(status);
}

unsigned long port_stack_bytes(void)
{
    return 0; /* not measured on the host */
}
