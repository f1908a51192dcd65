/* ELF checks for drover-tools upgrades. libc only. */
#pragma once

#include <errno.h>
#include <stddef.h>

/* 0 when fd holds a 64-bit little-endian x86-64 executable (ET_EXEC or
 * static-pie ET_DYN) without a program interpreter, whose entry point lies
 * in an executable PT_LOAD segment; else -EINVAL with a phrase in why
 * ("not an ELF file", "dynamically linked (has an interpreter)", ...). */
int dv_elf_check_static_x86_64(int fd, char *why, size_t why_len);
