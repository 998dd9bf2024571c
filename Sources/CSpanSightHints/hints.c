// CSpanSightHints is header-only (include/CSpanSightHints.h); SwiftPM wants one source file.
#include "CSpanSightHints.h"
