// context_x86_64.S — the goroutine context switch (System V x86-64).
//
// A switch saves only what the ABI says a callee must preserve: rbx, rbp,
// r12-r15, the stack pointer, and the MXCSR / x87 control words.  Everything
// else is caller-saved, so the C++ caller has already spilled what it needs.
// (An OS thread switch saves the whole register file, FPU/AVX state included.)
//
// Frame left on a suspended stack, from the saved sp upward:
//   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), pad
//   sp+8   r15, r14, r13, r12, rbx, rbp
//   sp+56  return address
// proc.cpp (g_prepare) builds the same frame for a new G with the return
// address set to goro_ctx_trampoline.

        .text

// void goro_ctx_switch(void** save_sp /* rdi */, void* to_sp /* rsi */)
        .globl  goro_ctx_switch
        .type   goro_ctx_switch, @function
        .p2align 4
goro_ctx_switch:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        // Loading MXCSR / the x87 control word is slow (it serializes the FP
        // units); they almost never differ between goroutines, so compare
        // with the current values (still in the old frame) and skip.
        movq    (%rdi), %rax            // rax = old sp: its [0..6) hold our values
        movl    (%rax), %edx
        cmpl    (%rsp), %edx
        je      1f
        ldmxcsr (%rsp)
1:      movzwl  4(%rax), %edx
        cmpw    4(%rsp), %dx
        je      2f
        fldcw   4(%rsp)
2:      addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        popq    %r14
        .cfi_adjust_cfa_offset -8
        popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   goro_ctx_switch, .-goro_ctx_switch

// First code a new G runs, entered by goro_ctx_switch's `ret` with rsp
// 16-byte aligned.  The undefined return address stops unwinders and
// debuggers here: a goroutine's stack has no caller.
        .globl  goro_ctx_trampoline
        .type   goro_ctx_trampoline, @function
        .p2align 4
goro_ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        call    goro_g_entry
        ud2
        .cfi_endproc
        .size   goro_ctx_trampoline, .-goro_ctx_trampoline

        .section .note.GNU-stack,"",@progbits
