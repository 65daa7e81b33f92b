/* trace.c — placeholder until the subcommand lands (replaced in this session). */
#include <stdio.h>
#include "cmd.h"
int cmd_trace(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "synack trace: not built yet\n");
	return EXIT_FAIL;
}
