# Byte-order helpers and AMF type markers shared by the encoder and the decoder.

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* AMF is big-endian on the wire. */
    static inline uint64_t amf_bswap64(uint64_t v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return v;
    #else
        return __builtin_bswap64(v);
    #endif
    }

    static inline void amf_pack_double(unsigned char *out, double d) {
        uint64_t v;
        memcpy(&v, &d, 8);
        v = amf_bswap64(v);
        memcpy(out, &v, 8);
    }

    static inline double amf_unpack_double(const unsigned char *in) {
        uint64_t v;
        double d;
        memcpy(&v, in, 8);
        v = amf_bswap64(v);
        memcpy(&d, &v, 8);
        return d;
    }

    /* Proleptic Gregorian calendar <-> days since 1970-01-01. */
    static inline int64_t amf_days_from_civil(int64_t y, int m, int d) {
        int64_t era;
        int64_t yoe, doy, doe;
        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    static inline void amf_civil_from_days(int64_t z, int *y, int *m, int *d) {
        int64_t era, doe, yoe, doy, mp;
        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = (int)(yoe + era * 400 + (*m <= 2));
    }
    """
    void amf_pack_double(unsigned char *out, double d) nogil
    double amf_unpack_double(const unsigned char *inp) nogil
    long long amf_days_from_civil(long long y, int m, int d) nogil
    void amf_civil_from_days(long long z, int *y, int *m, int *d) nogil


cdef enum:
    # AMF0 markers
    AMF0_NUMBER = 0x00
    AMF0_BOOLEAN = 0x01
    AMF0_STRING = 0x02
    AMF0_OBJECT = 0x03
    AMF0_MOVIECLIP = 0x04
    AMF0_NULL = 0x05
    AMF0_UNDEFINED = 0x06
    AMF0_REFERENCE = 0x07
    AMF0_ECMA_ARRAY = 0x08
    AMF0_OBJECT_END = 0x09
    AMF0_STRICT_ARRAY = 0x0A
    AMF0_DATE = 0x0B
    AMF0_LONG_STRING = 0x0C
    AMF0_UNSUPPORTED = 0x0D
    AMF0_RECORDSET = 0x0E
    AMF0_XML = 0x0F
    AMF0_TYPED_OBJECT = 0x10
    AMF0_AMF3 = 0x11

    # AMF3 markers
    AMF3_UNDEFINED = 0x00
    AMF3_NULL = 0x01
    AMF3_FALSE = 0x02
    AMF3_TRUE = 0x03
    AMF3_INTEGER = 0x04
    AMF3_DOUBLE = 0x05
    AMF3_STRING = 0x06
    AMF3_XML_DOC = 0x07
    AMF3_DATE = 0x08
    AMF3_ARRAY = 0x09
    AMF3_OBJECT = 0x0A
    AMF3_XML = 0x0B
    AMF3_BYTE_ARRAY = 0x0C
    AMF3_VECTOR_INT = 0x0D
    AMF3_VECTOR_UINT = 0x0E
    AMF3_VECTOR_DOUBLE = 0x0F
    AMF3_VECTOR_OBJECT = 0x10
    AMF3_DICTIONARY = 0x11

    # AMF3 object header flags (after the reference bit)
    TRAIT_INLINE = 0x02
    TRAIT_EXTERNAL = 0x04
    TRAIT_DYNAMIC = 0x08

    AMF3_INT_MAX = 0x0FFFFFFF
    AMF3_INT_MIN = -0x10000000
    U29_MAX = 0x1FFFFFFF
    AMF0_MAX_REFERENCE = 0xFFFF
    DEFAULT_MAX_DEPTH = 512

    MS_PER_DAY = 86400000
