package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime/stime in /proc/<pid>/stat (USER_HZ), 100 on
// every Linux the bench runs on.
const clockTick = 10 * time.Millisecond

type procStat struct {
	ppid   int
	utime  int64 // ticks
	stime  int64
	cutime int64
	cstime int64
	comm   string
}

// readStat reads /proc/<pid>/stat. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(k int) int64 { n, _ := strconv.ParseInt(f[k-3], 10, 64); return n }
	return procStat{
		ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17),
		comm: string(b[bytes.IndexByte(b, '(')+1 : i]),
	}, nil
}

// cpuOf is the CPU time a process has used so far (its own, not reaped
// children's).
func cpuOf(pid int) time.Duration {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return time.Duration(st.utime+st.stime) * clockTick
}

// postgresCPU sums, per process, the CPU of the postmaster and of those of its
// children that work for the bench: the backends of databases named with
// prefix and the shared helpers (WAL writer, checkpointer, ...). Backends of
// other databases — other people's tests on a shared server — are left out.
func postgresCPU(postmaster int, prefix string) map[int]time.Duration {
	out := map[int]time.Duration{}
	if postmaster == 0 {
		return out
	}
	out[postmaster] = cpuOf(postmaster)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != postmaster {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		// A backend's title is "postgres: <user> <database> <client> <state>";
		// helpers have no client address.
		title := string(cmd)
		isBackend := strings.Contains(title, "(") || strings.Contains(title, "[local]")
		if isBackend && !strings.Contains(title, prefix) {
			continue
		}
		out[pid] = time.Duration(st.utime+st.stime) * clockTick
	}
	return out
}

// cpuDelta is what the processes in after used since before; processes that
// started in between count whole.
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, a := range after {
		d += a - before[pid]
	}
	return d
}

// peakRSS is VmHWM of pid in bytes: the most resident memory it has had.
func peakRSS(pid int) int64 { return statusBytes(pid, "VmHWM:") }

// anonRSS is RssAnon of pid in bytes: its private memory (heap, stacks), without
// the pages of its executable that are mapped in (RssFile), which are shared and
// which the kernel can drop at will.
func anonRSS(pid int) int64 { return statusBytes(pid, "RssAnon:") }

// sampleAnonPeak polls anonRSS of pid until stop is closed and returns the largest
// value seen (the kernel keeps no high-water mark for it).
func sampleAnonPeak(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, anonRSS(pid))
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

func statusBytes(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// cpuSnapshot is the CPU counters of every process the bench accounts for.
type cpuSnapshot struct {
	at       time.Time
	hookflow time.Duration
	temporal time.Duration
	baseline time.Duration
	postgres map[int]time.Duration
}

// cpuUse is CPU time per process over a scenario.
type cpuUse struct {
	Hookflow time.Duration
	Temporal time.Duration
	Baseline time.Duration
	Postgres time.Duration
}

func (u cpuUse) total() time.Duration { return u.Hookflow + u.Temporal + u.Baseline + u.Postgres }
