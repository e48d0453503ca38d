package e2e
{
    /** "notes.User" of examples/django_project: Django's user, without its password hash. */
    public class DjUser
    {
        public var id:Object;
        public var last_login:Object;
        public var is_superuser:Boolean;
        public var username:String;
        public var first_name:String;
        public var last_name:String;
        public var email:String;
        public var is_staff:Boolean;
        public var is_active:Boolean;
        public var date_joined:Object;
    }
}
