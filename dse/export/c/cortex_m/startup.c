/*
 * startup.c -- reset for a Cortex-M4/M7 on an MPS2 board (QEMU): vector
 * table, FPU on, .data copied, .bss zeroed, the stack painted so that its
 * deepest use can be measured afterwards, then main().
 */
#include <stdint.h>

#include "../snn_port.h"

int main(void);

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;

#define CPACR (*(volatile uint32_t *)0xE000ED88u) /* coprocessor access control */
#define STACK_PAINT 0x5AC4ED5Au

void Reset_Handler(void);
void Fault_Handler(void);

/* Initial stack pointer, then the handlers: reset, NMI, hard fault, and the
 * other fault and system exceptions, none of which this program expects. */
__attribute__((section(".vectors"), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)&__stack_top, (uintptr_t)Reset_Handler, (uintptr_t)Fault_Handler,
    (uintptr_t)Fault_Handler, (uintptr_t)Fault_Handler, (uintptr_t)Fault_Handler,
    (uintptr_t)Fault_Handler, 0, 0, 0, 0, (uintptr_t)Fault_Handler,
    (uintptr_t)Fault_Handler, 0, (uintptr_t)Fault_Handler, (uintptr_t)Fault_Handler,
};

void Fault_Handler(void)
{
    port_write("fault: the program stopped on a processor exception\n");
    port_exit(3);
}

void Reset_Handler(void)
{
    uint32_t *src = &__data_load, *dst;
    uint32_t *below_frame = (uint32_t *)__builtin_frame_address(0) - 64;

    CPACR |= 0xFu << 20; /* full access to CP10/CP11: the float32 neuron state needs the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (dst = &__data_start; dst < &__data_end;)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    for (dst = &__stack_limit; dst < below_frame;)
        *dst++ = STACK_PAINT;
    port_exit(main());
}

/* Bytes between the top of the stack and the deepest word that is no longer paint. */
unsigned long port_stack_bytes(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT)
        ++p;
    return (unsigned long)((uintptr_t)&__stack_top - (uintptr_t)p);
}
