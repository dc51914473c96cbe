# A thin wrapper over meson. `make demo` and `make check` also install what
# is missing on Debian 12 (scripts/setup).
BUILD ?= build
ASAN_BUILD ?= build-asan
export BUILD
MESON_OPTS ?= -Dwerror=true
# Marks the processes of one `make check` run, to find QEMUs it leaves behind.
CHECK_TOKEN := $(shell od -An -N8 -tx8 /dev/urandom | tr -d " ")

.PHONY: all build setup demo check unit bench install clean

all: build

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

setup:
	scripts/setup

demo: setup
	$(MAKE) build
	scripts/demo

# Every suite in the main tree, then the unit tests under ASan+UBSan.
check: setup
	$(MAKE) build
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false -Ddocs=disabled >/dev/null
	ninja -C $(ASAN_BUILD)
	-QKIT_CHECK_RUN=$(CHECK_TOKEN) meson test -C $(BUILD) --no-rebuild --print-errorlogs
	-QKIT_CHECK_RUN=$(CHECK_TOKEN) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --no-rebuild --print-errorlogs --suite unit
	scripts/test-leftovers $(CHECK_TOKEN) > $(BUILD)/leftovers.txt || true
	scripts/test-summary --extra $(BUILD)/leftovers.txt $(BUILD) $(ASAN_BUILD)

unit: build
	meson test -C $(BUILD) --no-rebuild --print-errorlogs --suite unit

bench: build
	meson test -C $(BUILD) --no-rebuild --benchmark --verbose

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
