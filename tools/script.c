/* script.c — placeholder until the subcommand lands (replaced in this session). */
#include <stdio.h>
#include "cmd.h"
int cmd_script(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "synack script: not built yet\n");
	return EXIT_FAIL;
}
