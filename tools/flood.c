/* flood.c — placeholder: the subcommand is being written in this session. */
#include <stdio.h>
#include "cmd.h"
int cmd_flood(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "synack flood: not built yet\n");
	return EXIT_FAIL;
}
