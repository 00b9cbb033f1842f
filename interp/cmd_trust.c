/* cmd_trust.c — `runbook trust HOST`: shows the key the host offers and,
 * once the operator confirms, pins it in the host's known_hosts file.
 * Also the lookup of one SSH host by name that trust, lock and
 * `resume --from-target` share. */
#include "cli.h"

#include "engine.h"
#include "inventory.h"
#include "ssh.h"
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct host *cli_ssh_host(const char *name, const char *inventory, struct rb_error *err)
{
	struct inventory *inv = NULL;
	if (inventory && !(inv = inventory_load(inventory, err)))
		return NULL;
	const struct host_def *d = NULL;
	for (size_t i = 0; inv && i < inv->nhosts; i++)
		if (!strcmp(inv->hosts[i].name, name))
			d = &inv->hosts[i];
	struct host *h = NULL;
	if (d && d->local) {
		rb_error_add(err, "host '%s' is this machine (transport: local): there is no SSH to it", name);
	} else if (d) {
		h = host_new(d);
	} else {
		/* not in an inventory: a name ssh knows (~/.ssh/config, DNS) */
		struct host_def def = {.name = (char *)name, .pos = {inventory, 0, 0}};
		h = host_new(&def);
	}
	inventory_free(inv);
	return h;
}

int cmd_trust(struct opts *o)
{
	if (o->nargs != 2 || !o->args[1][0])
		return bad_usage("usage: runbook trust HOST [--inventory F] [--yes]");
	struct rb_error err = {0};
	struct host *h = cli_ssh_host(o->args[1], o->inventory, &err);
	int code = EXIT_BAD;
	struct hostkey key;
	char *blob = NULL, *pinned = NULL, *why = NULL, *name = NULL;
	if (!h)
		goto out;
	if (ssh_offered_key(h, &key, &blob, &err) < 0) {
		code = EXIT_PRECOND;
		goto out;
	}
	name = hostkey_name(h->address, h->port);
	printf("host '%s' (%s, as %s) offers this %s key:\n  %s\n", h->name, name, h->user, key.type, key.fp);
	enum hostkey_verdict v = hostkey_check(h->known_hosts, h->address, h->port, &key, &pinned);
	if (v == HOSTKEY_OK) {
		printf("it is already pinned in %s: nothing to do\n", h->known_hosts);
		code = EXIT_OK;
		goto out;
	}
	if (v == HOSTKEY_ERROR) {
		rb_error_add(&err, "%s", pinned);
		goto out;
	}
	if (v == HOSTKEY_CHANGED) {
		/* replacing a pin is removing the old one, on purpose, by hand */
		rb_error_add(&err,
			     "%s pins a DIFFERENT %s key for %s: %s. Someone may be intercepting the connection, or the "
			     "host was reinstalled. If the change is expected, remove the old key with: ssh-keygen -f "
			     "'%s' -R '%s', then run 'runbook trust %s' again",
			     h->known_hosts, key.type, name, pinned, h->known_hosts, name, h->name);
		code = EXIT_FAILED;
		goto out;
	}
	printf("compare it with the key on the host (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` run there, or ask "
	       "its owner)\n");
	if (!o->yes) {
		if (!isatty(0)) {
			fprintf(stderr, "runbook: not pinned: no terminal to confirm on (give --yes once you have compared "
					"the fingerprint)\n");
			code = EXIT_PAUSED;
			goto out;
		}
		printf("pin it in %s? [y/N] ", h->known_hosts);
		fflush(stdout);
		char ans[64];
		if (ui_read_answer(ans, sizeof(ans)) < 0 || !ui_answer_yes(ans)) {
			printf("not pinned\n");
			code = EXIT_FAILED;
			goto out;
		}
	}
	if (hostkey_pin(h->known_hosts, h->address, h->port, &key, &why) < 0) {
		rb_error_add(&err, "%s", why);
		code = EXIT_FAILED;
		goto out;
	}
	printf("pinned: %s %s in %s\n", name, key.fp, h->known_hosts);
	code = EXIT_OK;
out:
	if (err.n)
		rb_error_print(&err, "runbook");
	rb_error_release(&err);
	free(blob);
	free(pinned);
	free(why);
	free(name);
	host_free(h);
	return code;
}
