/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static qk_log_fn handler;
static void *handler_data;
static qk_log_level handler_max = QK_LOG_WARNING;

void qk_log_set_handler(qk_log_fn fn, void *userdata, qk_log_level max_level)
{
	handler = fn;
	handler_data = userdata;
	handler_max = max_level;
}

int qk_log_level_from_string(const char *s)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s && strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

void qk_log(qk_log_level level, const char *fmt, ...)
{
	if (!handler || level > handler_max)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	handler(level, msg, handler_data);
}
