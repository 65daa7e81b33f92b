/* trace_main.c — runs `synack trace` alone, so that the observe tests need
 * neither the engine nor the other subcommands. */
#include "cmd.h"

int main(int argc, char **argv)
{
	return cmd_trace(argc, argv);
}
