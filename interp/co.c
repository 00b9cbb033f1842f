/* co.c — see co.h.  Tasks are ucontext(3) coroutines on mmap'ed stacks
 * with a guard page; the sanitizer and valgrind are told about every
 * stack switch, or they would report the switch itself as an error. */
#include "co.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CO_ASAN 1
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CO_VALGRIND 1
#endif
#endif

/* A step's run keeps 64 KiB read buffers on its stack; the rest is
 * headroom.  Pages are only committed when touched. */
#define STACK_SIZE (1024 * 1024)

enum task_state { T_RUN, T_WAIT, T_DONE };

struct task {
	ucontext_t ctx;
	void *mem;            /* guard page + stack */
	size_t i;
	enum task_state state;
	/* while waiting: what for, and the answer */
	struct pollfd *pf;
	nfds_t n;
	long long deadline;   /* 0: none */
	int result;
	unsigned vg_id;
	void *fake;           /* ASan's fake stack of the suspended task */
};

static struct {
	bool active;
	ucontext_t main;
	struct task *cur;     /* the running task, NULL in the scheduler */
	void (*fn)(void *, size_t);
	void *ctx;
	const void *main_bottom;
	size_t main_size;
	void *main_fake;
} S;

void *co_self(void)
{
	return S.cur;
}

void co_wake(void *task)
{
	struct task *t = task;
	if (t && t->state == T_WAIT) {
		for (nfds_t k = 0; k < t->n; k++)
			t->pf[k].revents = 0;
		t->result = 0;
		t->state = T_RUN;
	}
}

/* --- switching (with the sanitizers' annotations) ------------------------ */

static void to_task(struct task *t)
{
	S.cur = t;
#ifdef CO_ASAN
	__sanitizer_start_switch_fiber(&S.main_fake, (char *)t->mem + getpagesize(), STACK_SIZE);
#endif
	swapcontext(&S.main, &t->ctx);
#ifdef CO_ASAN
	__sanitizer_finish_switch_fiber(S.main_fake, NULL, NULL);
#endif
	S.cur = NULL;
}

static void to_main(struct task *t, bool dying)
{
#ifdef CO_ASAN
	__sanitizer_start_switch_fiber(dying ? NULL : &t->fake, S.main_bottom, S.main_size);
#endif
	swapcontext(&t->ctx, &S.main);
#ifdef CO_ASAN
	__sanitizer_finish_switch_fiber(t->fake, &S.main_bottom, &S.main_size);
#endif
}

static struct task *starting;

static void trampoline(void)
{
	struct task *t = starting;
#ifdef CO_ASAN
	__sanitizer_finish_switch_fiber(NULL, &S.main_bottom, &S.main_size);
#endif
	S.fn(S.ctx, t->i);
	t->state = T_DONE;
	to_main(t, true);
}

static struct task *task_new(size_t i)
{
	size_t page = (size_t)getpagesize();
	void *mem = mmap(NULL, STACK_SIZE + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			 -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	mprotect(mem, page, PROT_NONE); /* overflow faults instead of corrupting */
	struct task *t = xcalloc(1, sizeof(*t));
	t->mem = mem;
	t->i = i;
	getcontext(&t->ctx);
	t->ctx.uc_stack.ss_sp = (char *)mem + page;
	t->ctx.uc_stack.ss_size = STACK_SIZE;
	t->ctx.uc_link = NULL;
#ifdef CO_VALGRIND
	t->vg_id = VALGRIND_STACK_REGISTER((char *)mem + page, (char *)mem + page + STACK_SIZE);
#endif
	makecontext(&t->ctx, trampoline, 0);
	return t;
}

static void task_free(struct task *t)
{
#ifdef CO_VALGRIND
	VALGRIND_STACK_DEREGISTER(t->vg_id);
#endif
	munmap(t->mem, STACK_SIZE + (size_t)getpagesize());
	free(t);
}

/* --- waiting ------------------------------------------------------------- */

int co_poll(struct pollfd *pf, nfds_t n, int timeout_ms)
{
	struct task *t = S.cur;
	if (!t) {
		int r;
		while ((r = poll(pf, n, timeout_ms)) < 0 && errno == EINTR)
			;
		return r;
	}
	for (nfds_t k = 0; k < n; k++)
		pf[k].revents = 0;
	t->pf = pf;
	t->n = n;
	t->deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	if (timeout_ms == 0) {
		/* a non-blocking look: answer at once, but let others run */
		int r = poll(pf, n, 0);
		t->state = T_RUN;
		to_main(t, false);
		return r < 0 ? 0 : r;
	}
	t->state = T_WAIT;
	to_main(t, false);
	return t->result;
}

/* One poll() over every waiting task; marks the ready ones runnable. */
static void wait_some(struct task **v, size_t nv)
{
	size_t total = 0;
	long long now = now_ms(), next = 0;
	for (size_t k = 0; k < nv; k++)
		if (v[k]->state == T_WAIT) {
			total += v[k]->n;
			if (v[k]->deadline && (!next || v[k]->deadline < next))
				next = v[k]->deadline;
		}
	struct pollfd *all = xcalloc(total + 1, sizeof(*all));
	size_t at = 0;
	for (size_t k = 0; k < nv; k++)
		if (v[k]->state == T_WAIT && v[k]->n) {
			memcpy(all + at, v[k]->pf, v[k]->n * sizeof(*all));
			at += v[k]->n;
		}
	int wait = next ? (next > now ? (int)(next - now) : 0) : -1;
	int r = poll(all, (nfds_t)total, wait);
	now = now_ms();
	at = 0;
	for (size_t k = 0; k < nv; k++) {
		struct task *t = v[k];
		if (t->state != T_WAIT)
			continue;
		int ready = 0;
		for (nfds_t j = 0; j < t->n; j++) {
			t->pf[j].revents = r > 0 ? all[at + j].revents : 0;
			ready += t->pf[j].revents != 0;
		}
		at += t->n;
		if (ready || (t->deadline && now >= t->deadline) || (r < 0 && errno != EINTR)) {
			t->result = r < 0 && errno != EINTR ? -1 : ready;
			t->state = T_RUN;
		}
	}
	free(all);
}

void co_run(size_t n, size_t parallel, void (*fn)(void *ctx, size_t i), bool (*more)(void *ctx), void *ctx)
{
	if (parallel <= 1 || n <= 1 || S.active) {
		for (size_t i = 0; i < n; i++) {
			if (more && !more(ctx))
				break;
			fn(ctx, i);
		}
		return;
	}
	S.active = true;
	S.fn = fn;
	S.ctx = ctx;
	struct task **v = xcalloc(parallel, sizeof(*v));
	size_t nv = 0, next = 0, inline_from = n;
	bool stop = false;
	for (;;) {
		while (!stop && nv < parallel && next < n) {
			if (more && !more(ctx)) {
				stop = true;
				break;
			}
			struct task *t = task_new(next);
			if (!t) {
				/* no memory for a stack: the rest run one after
				 * another once the running tasks are done (never in
				 * the main flow beside suspended tasks) */
				stop = true;
				inline_from = next;
				break;
			}
			next++;
			v[nv++] = t;
			starting = t;
			to_task(t);
		}
		if (!nv)
			break;
		bool ran = false;
		for (size_t k = 0; k < nv; k++)
			if (v[k]->state == T_RUN) {
				to_task(v[k]);
				ran = true;
			}
		for (size_t k = 0; k < nv;) {
			if (v[k]->state == T_DONE) {
				task_free(v[k]);
				v[k] = v[--nv];
				ran = true;
			} else {
				k++;
			}
		}
		if (!ran && nv)
			wait_some(v, nv);
	}
	free(v);
	S.active = false;
	for (size_t i = inline_from; i < n; i++) {
		if (more && !more(ctx))
			break;
		fn(ctx, i);
	}
}
