/* SPDX-License-Identifier: MIT */
/*
 * The one escaper and the property-list writers. The round-trip test
 * parses the comma form back the way QEMU's option parser does (",," is a
 * comma, a single comma ends the value) and demands the same values, so a
 * value can never smuggle in another option.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "props.h"

static char *comma(const json_t *props, bool bare)
{
	struct buf b = BUF_INIT;
	qk_error *err = NULL;
	int r = props_to_comma(props, bare, &b, &err);
	assert_int_equal(r, 0);
	assert_null(err);
	return buf_steal(&b);
}

static void escape_doubles_commas_only(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "plain" },
		{ "a,b", "a,,b" },
		{ ",", ",," },
		{ ",,", ",,,," },
		{ "/srv/a,file=/etc/shadow", "/srv/a,,file=/etc/shadow" },
		{ "k=v", "k=v" },
		{ "it's \"quoted\"", "it's \"quoted\"" },
		{ "two words", "two words" },
		{ "line\nbreak", "line\nbreak" },
		{ "ünïcødé,名前", "ünïcødé,,名前" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		assert_int_equal(props_escape(&b, cases[i].in), 0);
		assert_string_equal(b.data ? b.data : "", cases[i].out);
		buf_free(&b);
	}
}

static void keys_are_checked_not_escaped(void **state)
{
	assert_true(props_key_valid("drive"));
	assert_true(props_key_valid("addr.type"));
	assert_true(props_key_valid("read-only"));
	assert_true(props_key_valid("chassis_nr"));
	assert_false(props_key_valid(""));
	assert_false(props_key_valid(".a"));
	assert_false(props_key_valid("a."));
	assert_false(props_key_valid("a..b"));
	assert_false(props_key_valid("a,b"));
	assert_false(props_key_valid("a=b"));
	assert_false(props_key_valid("a b"));
	assert_false(props_key_valid("ké"));

	json_t *p = json_pack("{s:s, s:i}", "driver", "edu", "x,y=1", 2);
	struct buf b = BUF_INIT;
	qk_error *err = NULL;
	assert_int_equal(props_to_comma(p, true, &b, &err), -EINVAL);
	assert_string_equal(qk_error_message(err), "property name \"x,y=1\" is not valid (letters, digits, '-', '_', '.')");
	qk_error_free(err);
	buf_free(&b);
	json_decref(p);
}

static void comma_form_types(void **state)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:b, s:b, s:i}", "driver", "virtio-blk-pci", "id", "disk0",
			      "drive", "a,b", "share-rw", 1, "scsi", 0, "bootindex", 3);
	char *s = comma(p, true);
	assert_string_equal(s, "virtio-blk-pci,id=disk0,drive=a,,b,share-rw=on,scsi=off,bootindex=3");
	free(s);
	s = comma(p, false);
	assert_string_equal(s, "driver=virtio-blk-pci,id=disk0,drive=a,,b,share-rw=on,scsi=off,bootindex=3");
	free(s);
	json_decref(p);
}

static void comma_form_nested_and_lists(void **state)
{
	json_t *p = json_pack("{s:s, s:{s:s, s:s}, s:[{s:s}, {s:s}], s:[i, i]}", "type", "stream", "addr", "type",
			      "unix", "path", "/run/a,b", "hostfwd", "str", "tcp::1-:2", "str", "udp:a,b", "cpus", 0, 2);
	char *s = comma(p, true);
	assert_string_equal(s, "stream,addr.type=unix,addr.path=/run/a,,b,hostfwd=tcp::1-:2,hostfwd=udp:a,,b,cpus=0,cpus=2");
	free(s);
	json_decref(p);
}

static void comma_form_rejects_null_and_reals(void **state)
{
	json_t *p = json_pack("{s:s, s:n}", "driver", "x", "bad", NULL);
	struct buf b = BUF_INIT;
	qk_error *err = NULL;
	assert_true(props_to_comma(p, true, &b, &err) < 0);
	assert_string_equal(qk_error_message(err), "property bad: a null has no comma-syntax form");
	qk_error_free(err);
	buf_free(&b);
	json_decref(p);
	p = json_pack("{s:s, s:f}", "driver", "x", "r", 1.5);
	err = NULL;
	assert_true(props_to_comma(p, true, &b, &err) < 0);
	assert_string_equal(qk_error_message(err), "property r: a real number has no comma-syntax form");
	qk_error_free(err);
	buf_free(&b);
	json_decref(p);
}

static void json_form_keeps_order_and_types(void **state)
{
	json_t *p = json_pack("{s:s, s:s, s:b, s:i, s:s}", "driver", "virtio-net-pci", "id", "net0", "mq", 1,
			      "vectors", 6, "romfile", "/é,\"q\"");
	char *s = props_to_json(p);
	assert_string_equal(s, "{\"driver\":\"virtio-net-pci\",\"id\":\"net0\",\"mq\":true,\"vectors\":6,"
			       "\"romfile\":\"/é,\\\"q\\\"\"}");
	free(s);
	json_decref(p);
}

/* QEMU's reading of key=value,...: ",," is a literal comma. */
static char *parse_value(const char **p)
{
	struct buf b = BUF_INIT;
	buf_reserve(&b, 0);
	while (**p) {
		if (**p == ',') {
			if ((*p)[1] != ',')
				break;
			(*p)++;
		}
		buf_putc(&b, **p);
		(*p)++;
	}
	return buf_steal(&b);
}

static void round_trip_random_values(void **state)
{
	static const char alphabet[] = ",=\"' \n\\é,,a1.-";
	srand(1234);
	for (int round = 0; round < 2000; round++) {
		char v1[24], v2[24];
		size_t n1 = (size_t)rand() % 20, n2 = (size_t)rand() % 20;
		for (size_t i = 0; i < n1; i++)
			v1[i] = alphabet[rand() % (sizeof(alphabet) - 1)];
		for (size_t i = 0; i < n2; i++)
			v2[i] = alphabet[rand() % (sizeof(alphabet) - 1)];
		v1[n1] = v2[n2] = '\0';
		/* é split by the random pick is not UTF-8; jansson refuses it. */
		json_t *j1 = json_string(v1), *j2 = json_string(v2);
		if (!j1 || !j2) {
			json_decref(j1);
			json_decref(j2);
			continue;
		}
		json_t *p = json_pack("{s:s, s:o, s:o}", "driver", "x", "file", j1, "serial", j2);
		char *s = comma(p, true);
		const char *c = s;
		free(parse_value(&c));
		assert_int_equal(*c, ',');
		c++;
		assert_memory_equal(c, "file=", 5);
		c += 5;
		char *got1 = parse_value(&c);
		assert_string_equal(got1, v1);
		assert_int_equal(*c, ',');
		c++;
		assert_memory_equal(c, "serial=", 7);
		c += 7;
		char *got2 = parse_value(&c);
		assert_string_equal(got2, v2);
		assert_int_equal(*c, '\0');
		free(got1);
		free(got2);
		free(s);
		json_decref(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_doubles_commas_only),
		cmocka_unit_test(keys_are_checked_not_escaped),
		cmocka_unit_test(comma_form_types),
		cmocka_unit_test(comma_form_nested_and_lists),
		cmocka_unit_test(comma_form_rejects_null_and_reals),
		cmocka_unit_test(json_form_keeps_order_and_types),
		cmocka_unit_test(round_trip_random_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
