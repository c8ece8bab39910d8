/*
 * The attach protocol with nothing else: what a one-shot costs on this machine before
 * any of attach's discovery and checks. Section 3 of the benchmarks times it next to
 * `attach PID -e 1+1`; it is NOT a client anyone should use. It trusts its arguments
 * (the worker's pid and its agent thread), reads no announcement, checks no owner,
 * mode or signal disposition, holds no pidfd and names the FIFOs in /tmp only.
 *
 * What it does is what every session needs (docs/PROTOCOL.md, steps 2-7): a fresh
 * token, the request FIFO made under a temporary name, locked and published as
 * <pid>.pipe, the reply FIFO, hello + eval + bye in one write, the doorbell, one poll
 * and one read for the agent's answer, and both FIFOs removed.
 *
 * Usage: bare_client PID AGENT_TID   (exit 0 when the agent answered 2)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: bare_client PID AGENT_TID\n", stderr);
        return 2;
    }
    int pid = atoi(argv[1]), tid = atoi(argv[2]);
    unsigned char random[16];
    char token[33], nonce[33];
    if (getrandom(random, sizeof random, 0) != sizeof random) return 2;
    for (int i = 0; i < 16; i++) snprintf(token + 2 * i, 3, "%02x", random[i]);
    if (getrandom(random, sizeof random, 0) != sizeof random) return 2;
    for (int i = 0; i < 16; i++) snprintf(nonce + 2 * i, 3, "%02x", random[i]);

    char temporary[96], published[32], reply[96];
    snprintf(temporary, sizeof temporary, ".%s.%d.request", nonce, getpid());
    snprintf(published, sizeof published, "%d.pipe", pid);
    snprintf(reply, sizeof reply, "%d.%s.reply", pid, token);

    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp < 0 || mknodat(tmp, temporary, S_IFIFO | 0600, 0) != 0) return 2;
    int request = openat(tmp, temporary, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int published_ok = request >= 0 && flock(request, LOCK_EX | LOCK_NB) == 0 &&
                       renameat2(tmp, temporary, tmp, published, RENAME_NOREPLACE) == 0;
    if (!published_ok) {
        unlinkat(tmp, temporary, 0);
        return 2;
    }
    int answered = 0;
    if (mknodat(tmp, reply, S_IFIFO | 0600, 0) == 0) {
        int replies = openat(tmp, reply, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        char lines[256];
        int length = snprintf(lines, sizeof lines,
                              "{\"op\":\"hello\",\"v\":1,\"token\":\"%s\",\"client_pid\":%d}\n"
                              "{\"op\":\"eval\",\"id\":1,\"code\":\"1+1\"}\n"
                              "{\"op\":\"bye\"}\n",
                              token, getpid());
        struct pollfd ready = {replies, POLLIN, 0};
        char answer[4096];
        ssize_t got = -1;
        if (replies >= 0 && write(request, lines, length) == length &&
            syscall(SYS_tgkill, pid, tid, SIGUSR1) == 0 && poll(&ready, 1, 5000) == 1) {
            got = read(replies, answer, sizeof answer - 1);
        }
        if (got > 0) {
            answer[got] = '\0';
            answered = strstr(answer, "\"value\":2") != NULL;
        }
        unlinkat(tmp, reply, 0);
    }
    unlinkat(tmp, published, 0);
    if (answered) puts("2");
    return answered ? 0 : 1;
}
