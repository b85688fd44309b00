/* Callgrind's client requests around one measured loop (bench/statement_instructions.py loads
 * it with ctypes): instrumentation and collection on, counters zeroed; then collection off, the
 * counts dumped under the loop's name, instrumentation off again (the next warm-up runs at
 * valgrind's uninstrumented speed). Built on demand by bench/callgrind.py; outside valgrind the
 * requests are no-ops. */
#include <valgrind/callgrind.h>

void cg_start(void) {
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
}

void cg_stop(const char *name) {
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(name);
    CALLGRIND_STOP_INSTRUMENTATION;
}
