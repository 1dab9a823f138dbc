# Thin wrapper over CMake: make, make test, make bench, make run, make clean.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all configure test bench run clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: configure
	cmake --build $(BUILD) -j $(JOBS) --target benches dru
	bash tools/bench.sh $(BUILD)

run: all
	$(BUILD)/dru experiment stsb-lstm --quick --device cpu

clean:
	rm -rf $(BUILD)
