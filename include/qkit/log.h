/* SPDX-License-Identifier: MIT */
/*
 * Logging. The library never writes to stdout or stderr; it hands each
 * diagnostic to a handler the program installs. With no handler, messages
 * are dropped.
 */
#ifndef QKIT_LOG_H
#define QKIT_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qk_log_level {
	QK_LOG_ERROR = 0,
	QK_LOG_WARNING,
	QK_LOG_INFO,
	QK_LOG_DEBUG,
} qk_log_level;

typedef void (*qk_log_fn)(qk_log_level level, const char *msg, void *userdata);

/*
 * Install fn (NULL removes it). Messages above max_level are not even
 * formatted. Process-wide; set it once at start-up, before other threads.
 */
void qk_log_set_handler(qk_log_fn fn, void *userdata, qk_log_level max_level);

/* Parse "error", "warning", "info" or "debug"; -1 if it is none of them. */
int qk_log_level_from_string(const char *s);

#ifdef __cplusplus
}
#endif
#endif
