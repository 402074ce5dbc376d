/*
 * asmfile.h - force-included into every source by the Makefile (-include).
 *
 * Without a .file directive the assembler names an assembly source after
 * the temporary object gcc gives it (e.g. "ccX1b2c3.o"), and that random
 * name would end up in the ELF's symbol table, making builds differ.
 * __BASE_FILE__ is the source file as named on the command line.
 */
#ifdef __ASSEMBLER__
    .file __BASE_FILE__
#endif
