/*
 * guard.c — what keeps a state directory's faults from becoming silent
 * damage or a signal: the writer's lock (DIR/writer.lock) and the last line
 * of defence against SIGBUS on the state's mapped files. The reasons are in
 * state.h, above their declarations.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "state/state.h"

/* ---- the writer's lock -------------------------------------------------------- */

/* This process's command line, NULs as spaces, anything unprintable as '?'
 * (the line is printed by the writer it refuses). */
static void own_command(char *buf, size_t len) {
  buf[0] = '\0';
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n <= 0)
    return;
  while (n > 0 && buf[n - 1] == '\0')
    n--;
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\0')
      buf[i] = ' ';
    else if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
      buf[i] = '?';
  buf[n] = '\0';
}

/* "PID COMMAND" of the writer holding fd's lock. It writes that right after
 * it takes the lock, so an empty file is a writer that is starting: wait for
 * its line a little. */
static void read_holder(int fd, char *pid, size_t pid_len, char *cmd, size_t cmd_len) {
  char buf[STORE_HOLDER_MAX];
  ssize_t n = 0;
  for (int attempt = 0; attempt < 25 && n <= 0; attempt++) {
    n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
      const struct timespec ts = {0, 20 * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  snprintf(pid, pid_len, "unknown");
  snprintf(cmd, cmd_len, "it has not written its command line yet");
  if (n <= 0)
    return;
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  for (char *p = buf; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
      *p = '?'; /* the file is in an operator's directory: print nothing raw */
  const size_t digits = strspn(buf, "0123456789");
  if (digits == 0 || digits >= pid_len || buf[digits] != ' ')
    return;
  snprintf(pid, pid_len, "%.*s", (int)digits, buf);
  snprintf(cmd, cmd_len, "%s", buf + digits + 1);
}

/* Says who holds the lock, now that this process does: "PID COMMAND\n". */
static int write_holder(int fd) {
  char cmd[STORE_HOLDER_MAX - 32], line[STORE_HOLDER_MAX];
  own_command(cmd, sizeof cmd);
  const int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), cmd);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n)
    return -1;
  return 0;
}

static int io_code(int err) {
  return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO ? CSC_ENOSPC : CSC_EIO;
}

int store_lock_writer(const char *dir, int *out, char *err, size_t errlen) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, STORE_WRITER_LOCK) >= (int)sizeof path) {
    snprintf(err, errlen, "%.200s...: path too long", dir);
    return CSC_EINVAL;
  }
  /* O_CLOEXEC: a program this one starts must not keep the lock alive. */
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    const int e = errno;
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    return io_code(e);
  }
  /* flock: held by the open file, released by the kernel when the process
   * ends however it ends, so a crashed writer leaves no stale lock. */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) {
      char pid[24], cmd[STORE_HOLDER_MAX];
      read_holder(fd, pid, sizeof pid, cmd, sizeof cmd);
      snprintf(err, errlen,
               "%s: another writer holds this state directory: pid %s (%s); one writer at a "
               "time (run, replay), readers (snapshot, serve) may open it beside the writer",
               dir, pid, cmd);
    } else {
      snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
    }
    close(fd);
    return e == EWOULDBLOCK ? CSC_ELOCKED : CSC_EIO;
  }
  if (write_holder(fd) != 0) {
    const int e = errno;
    snprintf(err, errlen, "%s: cannot write the holder: %s", path, strerror(e));
    close(fd);
    return io_code(e);
  }
  *out = fd;
  return CSC_OK;
}

int64_t store_free_bytes(const char *dir) {
  struct statvfs sv;
  if (statvfs(dir, &sv) != 0)
    return -1;
  return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

/* ---- SIGBUS on the state's maps ------------------------------------------------- */

static int status_damaged = 65, status_nospace = 74;

/* Async-signal-safe text building: only stack buffers and plain code. */
struct sbuf {
  char b[768];
  size_t n;
};

static void s_str(struct sbuf *s, const char *t) {
  while (*t && s->n < sizeof s->b - 1)
    s->b[s->n++] = *t++;
}

static void s_num(struct sbuf *s, unsigned long v, int width) {
  char d[24];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0 && n < 20);
  while (n < width && n < 20)
    d[n++] = '0';
  while (n > 0 && s->n < sizeof s->b - 1)
    s->b[s->n++] = d[--n];
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" from the clock, with days to a civil date done
 * by hand (gmtime_r may take a lock the interrupted code holds). */
static void s_now(struct sbuf *s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const long long secs = ts.tv_sec, z0 = secs / 86400 + 719468;
  const long long era = z0 / 146097, doe = z0 - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  const long long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
  const long long year = yoe + era * 400 + (month <= 2);
  const long long sod = secs % 86400;
  s_num(s, (unsigned long)year, 4), s_str(s, "-"), s_num(s, (unsigned long)month, 2);
  s_str(s, "-"), s_num(s, (unsigned long)day, 2), s_str(s, "T");
  s_num(s, (unsigned long)(sod / 3600), 2), s_str(s, ":");
  s_num(s, (unsigned long)(sod / 60 % 60), 2), s_str(s, ":");
  s_num(s, (unsigned long)(sod % 60), 2), s_str(s, ".");
  s_num(s, (unsigned long)(ts.tv_nsec / 1000000), 3), s_str(s, "Z");
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  const size_t m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static unsigned long parse_hex(const char **p) {
  unsigned long v = 0;
  for (;; (*p)++) {
    const char c = **p;
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0)
      return v;
    v = v * 16 + (unsigned long)d;
  }
}

/* 1 when line (n bytes, no newline) maps addr from data.mdb, 2 from
 * lock.mdb, 0 otherwise. */
static int line_maps(const char *line, size_t n, uintptr_t addr) {
  const char *p = line;
  const unsigned long from = parse_hex(&p);
  if (*p++ != '-')
    return 0;
  const unsigned long to = parse_hex(&p);
  if (addr < from || addr >= to)
    return 0;
  if (ends_with(line, n, " (deleted)"))
    n -= 10;
  return ends_with(line, n, "/data.mdb") ? 1 : ends_with(line, n, "/lock.mdb") ? 2 : 0;
}

/* Which state file the faulting address belongs to, read from
 * /proc/self/maps with open and read only (both async-signal-safe): the
 * map moves when it grows, so no address is remembered. */
static int mapped_file(uintptr_t addr) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[8192];
  size_t have = 0;
  int found = 0;
  for (;;) {
    const ssize_t got = read(fd, buf + have, sizeof buf - have);
    if (got <= 0)
      break;
    have += (size_t)got;
    size_t start = 0;
    for (size_t i = 0; i < have && !found; i++)
      if (buf[i] == '\n') {
        found = line_maps(buf + start, i - start, addr);
        start = i + 1;
      }
    if (found)
      break;
    if (start == 0 && have == sizeof buf)
      have = 0; /* a line longer than the buffer: not one of ours (paths are short) */
    memmove(buf, buf + start, have - start);
    have -= start;
  }
  close(fd);
  return found;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx) {
  (void)uctx;
  const int file = mapped_file((uintptr_t)si->si_addr);
  if (file == 0) {
    /* Not the state's: the default action, as before, when the fault repeats. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    return;
  }
  const int status = file == 1 ? status_damaged : status_nospace;
  struct sbuf s = {.n = 0};
  s_str(&s, "{\"ts\":\""), s_now(&s), s_str(&s, "\",\"level\":\"error\",\"event\":\"state_fault\"");
  s_str(&s, file == 1 ? ",\"file\":\"data.mdb\",\"reason\":\"a page of the state's data file "
                        "could not be read: the file is shorter than its pages (truncated) or "
                        "its disk failed\""
                      : ",\"file\":\"lock.mdb\",\"reason\":\"a page of LMDB's lock file could "
                        "not be written: no space left on the state's filesystem\"");
  s_str(&s, ",\"exit\":"), s_num(&s, (unsigned long)status, 1), s_str(&s, "}\n");
  ssize_t w = write(STDERR_FILENO, s.b, s.n);
  (void)w;
  _exit(status);
}

int store_install_fault_handler(int damaged_status, int nospace_status) {
  status_damaged = damaged_status;
  status_nospace = nospace_status;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGBUS, &sa, NULL) == 0 ? CSC_OK : CSC_EIO;
}
