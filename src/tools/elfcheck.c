/* Is this file something the guest can run as drover-tools? Shared by the
 * guest (before installing an upgrade) and the host (before sending one). */
#include "elfcheck.h"

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dv_elf_check_static_x86_64(int fd, char *why, size_t why_len)
{
        Elf64_Ehdr eh;
        struct stat st;
        bool load = false, entry_ok = false;

        if (fstat(fd, &st) < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh)) {
                snprintf(why, why_len, "too short for an ELF header");
                return -EINVAL;
        }
        if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
                snprintf(why, why_len, "not an ELF file");
                return -EINVAL;
        }
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
            eh.e_machine != EM_X86_64) {
                snprintf(why, why_len, "not an x86-64 (64-bit little-endian) ELF file");
                return -EINVAL;
        }
        if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
                snprintf(why, why_len, "not an executable");
                return -EINVAL;
        }
        if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 256 ||
            eh.e_phoff > (uint64_t)st.st_size ||
            (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size - eh.e_phoff) {
                snprintf(why, why_len, "bad program headers");
                return -EINVAL;
        }
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;

                if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph)) {
                        snprintf(why, why_len, "bad program headers");
                        return -EINVAL;
                }
                if (ph.p_type == PT_INTERP) {
                        snprintf(why, why_len, "dynamically linked (has an interpreter)");
                        return -EINVAL;
                }
                if (ph.p_type == PT_LOAD) {
                        /* A truncated copy (the usual corruption) ends
                         * before its last segment's bytes. */
                        if (ph.p_offset > (uint64_t)st.st_size ||
                            ph.p_filesz > (uint64_t)st.st_size - ph.p_offset) {
                                snprintf(why, why_len, "truncated (a segment ends past the end of the file)");
                                return -EINVAL;
                        }
                        load = true;
                        if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_vaddr &&
                            eh.e_entry - ph.p_vaddr < ph.p_memsz)
                                entry_ok = true;
                }
        }
        if (!load || !entry_ok) {
                snprintf(why, why_len, "no executable segment holds the entry point");
                return -EINVAL;
        }
        return 0;
}
