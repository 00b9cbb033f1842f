/* inventory.c — see inventory.h. */
#include "inventory.h"

#include <stdlib.h>
#include <string.h>

static const char *const inv_keys[] = {"hosts", "groups", "vars"};

struct inventory *inventory_load(const char *path, struct rb_error *err)
{
	size_t before = err->n;
	struct doc *d = doc_load(path, err);
	if (!d)
		return NULL;
	struct inventory *inv = xcalloc(1, sizeof(*inv));
	inv->doc = d;
	struct node *root = d->root, *x;
	struct pos top = {d->path, 1, 1};
	if (!root) {
		rb_error_at(err, top, "the inventory is empty");
		goto out;
	}
	if (root->kind != NODE_MAP) {
		rb_error_at(err, root->pos, "an inventory is a mapping with 'hosts', 'groups' and 'vars'");
		goto out;
	}
	for (size_t i = 0; i < root->n; i += 2) {
		const char *k = root->items[i]->str;
		if (strcmp(k, "hosts") && strcmp(k, "groups") && strcmp(k, "vars")) {
			struct sbuf sb = {0};
			sbuf_addf(&sb, "unknown key '%s' in the inventory", k);
			sbuf_add_suggestion(&sb, k, inv_keys, ARRAY_LEN(inv_keys));
			rb_error_at(err, root->items[i]->pos, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
		}
	}
	if ((x = node_get(root, "hosts"))) {
		if (x->kind != NODE_MAP)
			rb_error_at(err, x->pos, "'hosts' must be a mapping");
		else {
			inv->hosts = xcalloc(x->n / 2 + 1, sizeof(*inv->hosts));
			for (size_t i = 0; i < x->n; i += 2)
				parse_host_def(x->items[i + 1], x->items[i]->str, x->items[i]->pos,
					       &inv->hosts[inv->nhosts++], err);
		}
	}
	if ((x = node_get(root, "groups"))) {
		if (x->kind != NODE_MAP)
			rb_error_at(err, x->pos, "'groups' must be a mapping");
		else {
			inv->groups = xcalloc(x->n / 2 + 1, sizeof(*inv->groups));
			for (size_t i = 0; i < x->n; i += 2) {
				struct node *m = x->items[i + 1];
				struct inv_group *g = &inv->groups[inv->ngroups++];
				g->name = xstrdup(x->items[i]->str);
				g->pos = x->items[i]->pos;
				if (m->kind != NODE_SEQ) {
					rb_error_at(err, m->pos, "group '%s' must be a list of host names", g->name);
					continue;
				}
				g->members = xcalloc(m->n + 1, sizeof(char *));
				g->mpos = xcalloc(m->n + 1, sizeof(struct pos));
				for (size_t j = 0; j < m->n; j++) {
					if (m->items[j]->kind != NODE_SCALAR) {
						rb_error_at(err, m->items[j]->pos, "a group member must be a host name");
						continue;
					}
					g->mpos[g->n] = m->items[j]->pos;
					g->members[g->n++] = xstrdup(m->items[j]->str);
				}
			}
		}
	}
	if ((x = node_get(root, "vars"))) {
		if (x->kind != NODE_MAP)
			rb_error_at(err, x->pos, "'vars' must be a mapping");
		else {
			inv->vnames = xcalloc(x->n / 2 + 1, sizeof(char *));
			inv->vvalues = xcalloc(x->n / 2 + 1, sizeof(char *));
			for (size_t i = 0; i < x->n; i += 2) {
				if (x->items[i + 1]->kind != NODE_SCALAR) {
					rb_error_at(err, x->items[i + 1]->pos, "the value of '%s' must be a string",
						    x->items[i]->str);
					continue;
				}
				inv->vnames[inv->nvars] = xstrdup(x->items[i]->str);
				inv->vvalues[inv->nvars++] = xstrdup(x->items[i + 1]->str);
			}
		}
	}
out:
	if (err->n != before) {
		inventory_free(inv);
		return NULL;
	}
	return inv;
}

void inventory_free(struct inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->nhosts; i++)
		host_def_release(&inv->hosts[i]);
	free(inv->hosts);
	for (size_t i = 0; i < inv->ngroups; i++) {
		free(inv->groups[i].name);
		for (size_t j = 0; j < inv->groups[i].n; j++)
			free(inv->groups[i].members[j]);
		free(inv->groups[i].members);
		free(inv->groups[i].mpos);
	}
	free(inv->groups);
	for (size_t i = 0; i < inv->nvars; i++) {
		free(inv->vnames[i]);
		free(inv->vvalues[i]);
	}
	free(inv->vnames);
	free(inv->vvalues);
	doc_free(inv->doc);
	free(inv);
}

int params_file_load(const char *path, char ***names, char ***values, struct pos **pos, size_t *n,
		     struct rb_error *err)
{
	size_t before = err->n;
	struct doc *d = doc_load(path, err);
	if (!d)
		return -1;
	struct node *root = d->root;
	*n = 0;
	if (root && root->kind != NODE_MAP)
		rb_error_at(err, root->pos, "a params file is a mapping of param names to values");
	else if (root) {
		*names = xcalloc(root->n / 2 + 1, sizeof(char *));
		*values = xcalloc(root->n / 2 + 1, sizeof(char *));
		*pos = xcalloc(root->n / 2 + 1, sizeof(struct pos));
		for (size_t i = 0; i < root->n; i += 2) {
			struct node *v = root->items[i + 1];
			if (v->kind != NODE_SCALAR) {
				rb_error_at(err, v->pos, "the value of '%s' must be a string", root->items[i]->str);
				continue;
			}
			(*names)[*n] = xstrdup(root->items[i]->str);
			(*values)[*n] = xstrdup(v->str);
			/* the value's position (the file name is the caller's to add:
			 * positions must not outlive the doc) */
			(*pos)[*n] = v->pos;
			(*pos)[*n].file = NULL;
			(*n)++;
		}
	}
	doc_free(d);
	return err->n == before ? 0 : -1;
}
