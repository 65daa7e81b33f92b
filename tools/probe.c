/* probe.c — placeholder: the subcommand is being written in this session. */
#include <stdio.h>
#include "cmd.h"
int cmd_probe(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "synack probe: not built yet\n");
	return EXIT_FAIL;
}
