#ifndef CALLFLOW_CSODIUM_SHIM_H
#define CALLFLOW_CSODIUM_SHIM_H
#include <sodium.h>
#endif
