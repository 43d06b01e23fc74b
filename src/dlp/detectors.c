/*
 * detectors.c - the built-in detectors as one list: the families in a fixed
 * order, so an index names the same detector in every run of a build.
 */
#include "detector.h"

size_t tg__dlp_detector_total(void)
{
    return tg__dlp_detectors_identity_count + tg__dlp_detectors_credentials_count;
}

const tg__dlp_detector_def *tg__dlp_detector_at(size_t index)
{
    if (index < tg__dlp_detectors_identity_count)
        return &tg__dlp_detectors_identity[index];
    index -= tg__dlp_detectors_identity_count;
    if (index < tg__dlp_detectors_credentials_count)
        return &tg__dlp_detectors_credentials[index];
    return NULL;
}
